// @module
// PII masking for sampled payloads, before anything leaves the filter:
// configured JSON field names at any depth (values replaced, also in JSON
// escaped once inside a JSON string), then patterns in any text, JSON or
// not: e-mail addresses, card numbers that pass Luhn, IBANs that pass
// mod-97, phone numbers; in free text (JSON strings, text that is not JSON
// by its structure) also long numbers (9+ digits, an SSN's groups). Form
// bodies are decoded first; a value the byte cap cut off is masked when it
// could be PII. Every pass is linear in the text. The scanners: pii-text.ts
// (the order), pii-json-shape.ts (whether text is JSON), pii-json.ts
// (fields), pii-patterns.ts (patterns), pii-form.ts (form bodies),
// pii-cut.ts (the cut end).
import { maskForm } from "./pii-form"
import { maskText } from "./pii-text"

export { isFormContentType } from "./pii-form"

/**
 * A captured body, masked: a form body pair by pair, anything else as
 * text; `cut` says the byte cap ended it, so its last value may be cut.
 */
export function maskBody(text: string, fields: string[], form: bool, cut: bool): string {
  if (form) return maskForm(text, fields, cut)
  return maskText(text, fields, cut)
}
