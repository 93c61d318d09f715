// @module
// What every filter configuration shares: the first problem found, as
// "<field path>: <reason>", which the filter logs when it refuses the config.
import { JsonValue, parseConfigObject } from "./json"

export class FilterConfig {
  error: string = ""
}

/** Records a problem on the configuration and returns it, for `return invalid(c, ...)`. */
export function invalid<T extends FilterConfig>(c: T, field: string, reason: string): T {
  c.error = field + ": " + reason
  return c
}

/** The first key of `obj` not in `known`, or null: every configuration refuses fields it does not know. */
export function unknownField(obj: JsonValue, known: string[]): string | null {
  for (let i = 0; i < obj.keys.length; i++) if (!known.includes(obj.keys[i])) return obj.keys[i]
  return null
}

/**
 * A configuration's text as its top-level object, or null with the parse
 * error recorded on `c` (which the caller returns).
 */
export function configObject<T extends FilterConfig>(c: T, text: string): JsonValue | null {
  const parsed = parseConfigObject(text)
  if (parsed.value === null) c.error = parsed.error
  return parsed.value
}
