import { describe, expect, it } from 'vitest'
import { errorBudget } from './error-budget.ts'

const slo = { availability: 0.999, window_days: 28 }

describe('errorBudget', () => {
  it('spends the budget in proportion to the error ratio over the allowed one', () => {
    const b = errorBudget(slo, { requests: 200_000, failed: 50 })
    expect(b).toMatchObject({ objective: 0.999, window_days: 28, requests: 200_000, failed: 50, error_ratio: 0.00025 })
    expect(b.allowed_ratio).toBeCloseTo(0.001, 12)
    expect(b.spent).toBeCloseTo(0.25, 9)
    expect(b.remaining).toBeCloseTo(0.75, 9)
  })

  it('is exactly spent at the objective and goes negative past it', () => {
    expect(errorBudget(slo, { requests: 10_000, failed: 10 }).remaining).toBeCloseTo(0, 9)
    const over = errorBudget({ availability: 0.99, window_days: 7 }, { requests: 1000, failed: 30 })
    expect(over.spent).toBeCloseTo(3, 9)
    expect(over.remaining).toBeCloseTo(-2, 9)
  })

  it('has no ratio, spend or remainder without requests, and a whole budget with no failures', () => {
    expect(errorBudget(slo, { requests: 0, failed: 0 })).toMatchObject({
      requests: 0,
      error_ratio: null,
      spent: null,
      remaining: null,
    })
    expect(errorBudget(slo, { requests: 5, failed: 0 })).toMatchObject({ error_ratio: 0, spent: 0, remaining: 1 })
  })

  it('reads a budget spent to the request as spent: 0 left, not a rounding error above it', () => {
    const b = errorBudget({ availability: 0.999, window_days: 28 }, { requests: 1_000_000, failed: 1000 })
    expect(b.spent).toBe(1)
    expect(b.remaining).toBe(0)
  })
})
