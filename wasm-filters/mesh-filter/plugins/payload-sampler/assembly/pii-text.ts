// @module
// Masking of text, a body or a form value: the value the byte cap cut, the
// configured JSON fields, then the patterns.
import { maskCutTail } from "./pii-cut"
import { maskJsonFields } from "./pii-json"
import { isJsonText } from "./pii-json-shape"
import { maskPatterns } from "./pii-patterns"

/**
 * Text (a body, a form value): the cut end, field values, then patterns
 * everywhere. Whether it is JSON is read first, from the text as it came:
 * the masks the others write ([TRUNCATED] in an array) are not JSON.
 */
export function maskText(text: string, fields: string[], cut: bool): string {
  const json = isJsonText(text)
  const tail = cut ? maskCutTail(text) : text
  return maskPatterns(fields.length > 0 ? maskJsonFields(tail, fields) : tail, json)
}
