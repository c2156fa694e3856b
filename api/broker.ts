/** The external broker's hooks and files (server/fleet/broker-routes.ts). */
import { Type } from '@sinclair/typebox';

/** What EMQX's HTTP authentication hook expects back. */
export const EmqxAuthnResult = Type.Object({ result: Type.Union([Type.Literal('allow'), Type.Literal('deny')]), is_superuser: Type.Boolean() });
/** What EMQX's HTTP authorization hook expects back. */
export const EmqxAuthzResult = Type.Object({ result: Type.Union([Type.Literal('allow'), Type.Literal('deny')]) });
/** A configuration file for Mosquitto, served as text. */
export const TextFile = (description: string) => ({ description, content: { 'text/plain': { schema: Type.String() } } });
