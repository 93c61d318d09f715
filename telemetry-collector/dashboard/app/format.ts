/** How numbers read on the page: short, with units, a dash for "no data". */
export const NO_DATA = '–'

export function rate(perS: number | null | undefined): string {
  if (perS == null) return NO_DATA
  return perS >= 100 ? `${Math.round(perS)}/s` : `${perS.toFixed(perS >= 10 ? 1 : 2)}/s`
}

export function percent(ratio: number | null | undefined, digits = 2): string {
  if (ratio == null || !Number.isFinite(ratio)) return NO_DATA
  return `${(ratio * 100).toFixed(digits)}%`
}

export function ms(v: number | null | undefined): string {
  if (v == null) return NO_DATA
  return v >= 100 ? `${Math.round(v)} ms` : `${v.toFixed(1)} ms`
}

export function num(v: number | null | undefined, digits = 3): string {
  if (v == null || !Number.isFinite(v)) return NO_DATA
  return Number(v.toFixed(digits)).toString()
}

export function age(seconds: number | null | undefined): string {
  if (seconds == null) return 'never'
  if (seconds < 2) return 'just now'
  if (seconds < 120) return `${Math.round(seconds)} s ago`
  if (seconds < 7200) return `${Math.round(seconds / 60)} min ago`
  return `${Math.round(seconds / 3600)} h ago`
}

export function time(ts: number): string {
  return new Date(ts).toLocaleString(undefined, { hour12: false })
}

/** A canary weight (basis points) as a percentage. */
export const weight = (bp: number) => `${bp / 100}%`
