/**
 * Version of the loanet wire contract.
 *
 * The MQTT topic root carries the major version (`loanet/v1/`) so that a v2
 * server can run beside v1 agents during an upgrade; every JSON payload also
 * carries `v`, and a receiver refuses a payload whose `v` it does not know
 * (with the reason "unsupported protocol version N; this side speaks 1").
 * Rule: adding an optional field does not change the version; removing a
 * field, changing its meaning or making it required does.
 */
export const PROTOCOL_VERSION = 1 as const;
export const TOPIC_ROOT = `loanet/v${PROTOCOL_VERSION}` as const;
