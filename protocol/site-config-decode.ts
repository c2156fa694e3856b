/** The decoder of sites/{siteId}/config (site-config.ts), apart from the schemas to keep decode.ts → messages.ts → site-config.ts free of a cycle. */
import { payloadDecoder } from './decode.ts';
import { SiteConfigMessage } from './site-config.ts';

export const decodeSiteConfig = payloadDecoder('config', SiteConfigMessage);
