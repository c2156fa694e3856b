/**
 * The one shape of every error answer (4xx, 5xx): a stable code from the
 * catalogue (api/error-catalogue.ts), its typed parameters in `params` so the
 * console words the error in the user's language, and the English message.
 * Some parameters (the field at fault, a limit …) are also sent at the top,
 * where clients read them before `params` existed
 * (server/errors.ts builds them; server/http/app.ts's error handler sends them).
 */
import { Type, type Static } from '@sinclair/typebox';

export const ErrorBody = Type.Object(
  {
    error: Type.String({ description: 'stable code, e.g. LOANET_NOT_FOUND (never reused)' }),
    message: Type.String({ description: 'what is wrong and what to do (English)' }),
    params: Type.Optional(
      Type.Record(Type.String(), Type.Unknown(), {
        description: "the code's parameters (api/error-catalogue.ts lists each code's): what the console words the error from",
      }),
    ),
    field: Type.Optional(Type.String({ description: 'the request field at fault (body.name, area, disk …)' })),
    limit: Type.Optional(Type.Union([Type.Number(), Type.String()], { description: 'the limit passed: bytes, characters, or which rate limit' })),
    rule: Type.Optional(Type.String()),
    max: Type.Optional(Type.Number()),
    length: Type.Optional(Type.Number()),
    windowMinutes: Type.Optional(Type.Number()),
    retryAfterS: Type.Optional(Type.Number()),
    variable: Type.Optional(Type.String({ description: 'the setting (environment variable) that sets the limit' })),
    state: Type.Optional(Type.String({ description: 'the disk state of a refused write' })),
    freeBytes: Type.Optional(Type.Number()),
    sender: Type.Optional(Type.String()),
    code: Type.Optional(Type.String({ description: 'the finer reason of a schedule conflict' })),
    hint: Type.Optional(Type.String()),
    conflicts: Type.Optional(Type.Array(Type.Unknown(), { description: 'the items a schedule change overlaps' })),
  },
  {
    $id: 'Error',
    title: 'Error',
    // Open: a code's parameters are the code's own (LoanetError details); the known ones are listed above.
    additionalProperties: true,
  },
);
export type ErrorBody = Static<typeof ErrorBody>;
