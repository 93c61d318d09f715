/**
 * @module
 * Synthetic credit applicants: 16 named numeric features with realistic,
 * correlated distributions, and a default label drawn from a non-linear
 * function of them through a logistic link (default rate about 20%).
 */
import { Random } from './random.ts'

export const FEATURE_NAMES = [
  'age',
  'annual_income',
  'employment_years',
  'debt_to_income',
  'credit_utilization',
  'num_open_accounts',
  'num_late_payments_12m',
  'months_since_last_delinquency',
  'loan_amount',
  'loan_term_months',
  'num_credit_inquiries_6m',
  'savings_balance',
  'checking_balance',
  'home_ownership_years',
  'num_dependents',
  'credit_history_years',
] as const

export const FEATURE_COUNT = FEATURE_NAMES.length

export interface Dataset {
  /** Row-major, rows x FEATURE_COUNT. */
  features: Float32Array
  labels: Uint8Array
  rows: number
}

const clamp = (x: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, x))
const sigmoid = (z: number) => 1 / (1 + Math.exp(-z))

/** One applicant's features, in FEATURE_NAMES order. */
function applicant(r: Random): number[] {
  const age = clamp(r.normal(42, 12), 18, 85)
  const annualIncome = clamp(r.logNormal(10.75 + 0.012 * Math.min(age - 18, 30), 0.5), 8_000, 1_000_000)
  const employmentYears = Math.min(age - 18, r.exponential(6))
  const debtToIncome = clamp(r.normal(0.32, 0.13), 0, 1.2)
  const creditUtilization = clamp(r.next() ** 1.6 + r.normal(0, 0.05), 0, 1)
  const numOpenAccounts = r.poisson(6)
  const lateMean = 0.2 + 1.4 * creditUtilization ** 2
  const numLate = r.poisson(lateMean)
  const monthsSinceDelinquency =
    numLate > 0 ? Math.floor(r.uniform(0, 12)) : Math.min(120, Math.floor(r.exponential(48)))
  const loanAmount = clamp(r.logNormal(9.6, 0.6), 1_000, 200_000)
  const loanTerm = r.pick([12, 24, 36, 60])
  const inquiries = r.poisson(1.2 + 1.5 * creditUtilization)
  const savings = r.logNormal(8.2 + 0.8 * (Math.log(annualIncome) - 10.9), 1.1)
  const checking = r.logNormal(7.5, 1)
  const homeYears = age > 25 && r.next() < 0.6 ? Math.min(age - 25, r.exponential(9)) : 0
  const dependents = r.poisson(1.1)
  const historyYears = clamp(age - 18 - r.uniform(0, 6), 0, 60)
  return [
    age,
    annualIncome,
    employmentYears,
    debtToIncome,
    creditUtilization,
    numOpenAccounts,
    numLate,
    monthsSinceDelinquency,
    loanAmount,
    loanTerm,
    inquiries,
    savings,
    checking,
    homeYears,
    dependents,
    historyYears,
  ]
}

/** Probability of default: thresholds, interactions and curvature, not a linear score. */
export function defaultProbability(f: readonly number[]): number {
  const [
    age,
    income,
    employment,
    dti,
    util,
    ,
    late,
    sinceDelinquency,
    loan,
    term,
    inquiries,
    savings,
    ,
    ,
    dependents,
    history,
  ] = f as number[]
  const z =
    -2.35 +
    3.2 * Math.max(0, dti! - 0.36) +
    2.4 * util! ** 2 +
    0.55 * Math.min(late!, 4) +
    (sinceDelinquency! < 6 ? 0.5 : 0) +
    (inquiries! > 3 ? 0.7 : 0) -
    0.7 * Math.log(income! / 55_000) +
    (loan! / income! > 0.45 ? 0.9 : 0) * (term === 60 ? 1.4 : 1) -
    0.035 * Math.min(history!, 25) +
    (age! < 26 ? 0.9 * util! : 0) -
    0.22 * Math.log1p(savings! / 1_000) -
    (employment! > 5 ? 0.35 : 0) +
    0.12 * Math.max(0, dependents! - 2)
  return sigmoid(z)
}

export function generateApplicants(n: number, seed: number): Dataset {
  const r = new Random(seed)
  const features = new Float32Array(n * FEATURE_COUNT)
  const labels = new Uint8Array(n)
  for (let i = 0; i < n; i++) {
    const row = applicant(r)
    features.set(row, i * FEATURE_COUNT)
    // The label sees the float32 features the models see.
    const stored = Array.from(features.subarray(i * FEATURE_COUNT, (i + 1) * FEATURE_COUNT))
    labels[i] = r.next() < defaultProbability(stored) ? 1 : 0
  }
  return { features, labels, rows: n }
}

/** Realistic request rows (float32 values as plain numbers), for tests, benchmarks and demo traffic. */
export function sampleRows(n: number, seed: number): number[][] {
  const { features } = generateApplicants(n, seed)
  return Array.from({ length: n }, (_, i) => Array.from(features.subarray(i * FEATURE_COUNT, (i + 1) * FEATURE_COUNT)))
}
