import { generateApplicants, FEATURE_COUNT } from './model-host/example-models/dataset.ts'
import { train, predict, auc, accuracy } from './model-host/example-models/mlp.ts'
const t0 = performance.now()
const d = generateApplicants(10000, 1), test = generateApplicants(3000, 2)
const m = train(d.features, FEATURE_COUNT, d.labels, { hidden: [32, 16], epochs: 12, batchSize: 64, learningRate: 0.003, seed: 11 })
const p = predict(m, test.features, FEATURE_COUNT)
console.log('v1 auc', auc(p, test.labels), 'acc', accuracy(p, test.labels), 'ms', performance.now() - t0)
const t1 = performance.now()
const tp = predict(m, d.features, FEATURE_COUNT)
const lr = train(d.features, FEATURE_COUNT, tp, { hidden: [], epochs: 10, batchSize: 64, learningRate: 0.01, seed: 12 })
const pl = predict(lr, test.features, FEATURE_COUNT)
console.log('lr auc', auc(pl, test.labels), 'acc', accuracy(pl, test.labels), 'ms', performance.now() - t1)
