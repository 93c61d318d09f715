// @module
// What every filter configuration shares: the first problem found, as
// "<field path>: <reason>", which the filter logs when it refuses the config.

export class FilterConfig {
  error: string = ""
}

/** Records a problem on the configuration and returns it, for `return invalid(c, ...)`. */
export function invalid<T extends FilterConfig>(c: T, field: string, reason: string): T {
  c.error = field + ": " + reason
  return c
}
