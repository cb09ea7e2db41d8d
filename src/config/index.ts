/** Config: TOML loading, the zod schema with defaults and docs, duration/size parsing (DESIGN.md §6). */
export { parseDuration, formatDuration, DurationSyntaxError } from './duration.js';
export { parseSize, formatSize, SizeSyntaxError } from './size.js';
export { parseHostPort, isHostname, HostPortSyntaxError, dnsServerProblem } from './host-port.js';
export { configSchema, LOG_LEVELS, DSN_LANGUAGES, type Config, type ConfigInput, type LogLevel, type DsnLanguage } from './schema.js';
export { parseConfigText, configFromObject, locateConfigFile, loadConfig, type LoadOptions } from './load.js';
export { renderDefaultConfig } from './defaults.js';
