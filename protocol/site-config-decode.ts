/** The decoders of sites/{siteId}/config (site-config.ts) and sites/{siteId}/update (update.ts), apart from the schemas to keep decode.ts → messages.ts → site-config.ts free of a cycle. */
import { payloadDecoder } from './decode.ts';
import { SiteConfigMessage } from './site-config.ts';
import { UpdateOrder } from './update.ts';

export const decodeSiteConfig = payloadDecoder('config', SiteConfigMessage);

export const decodeUpdateOrder = payloadDecoder('update', UpdateOrder);
