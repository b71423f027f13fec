// A k6 load test of an e-commerce checkout path: home page, product page, add to cart, cart.
//
//   BASE_URL=https://preprod.shop.example promo-infra k6 run examples/checkout.js \
//     --promo black-friday --promo-type flash-sale --intensity high
//
// Parameters (environment variables, read with __ENV):
//   BASE_URL     the shop under test (required), without a trailing slash
//   PRODUCT_ID   the product to view and add to the cart (default 42)
//   INTENSITY    low | medium | high: the load profile; `promo-infra k6 run --intensity` sets it
//
// Adapt the paths and the checks to your shop: /product/<id>, POST /cart/items (JSON) and
// /cart are the common shape. `promo-infra k6 run` adds the InfluxDB output, the testid and the
// tags, and the STOP button of the marketing dashboard stops this test gracefully.
import http from 'k6/http';
import { check, group, sleep } from 'k6';

const BASE_URL = (__ENV.BASE_URL || '').replace(/\/+$/, '');
if (!BASE_URL) {
  throw new Error('BASE_URL is not set: BASE_URL=https://preprod.shop.example promo-infra k6 run examples/checkout.js');
}
const PRODUCT_ID = __ENV.PRODUCT_ID || '42';

// Ramping virtual users per intensity: [ramp-up, hold, ramp-down] targets.
const PROFILES = {
  low: { peak: 10, hold: '3m' },
  medium: { peak: 50, hold: '5m' },
  high: { peak: 200, hold: '10m' },
};
const profile = PROFILES[__ENV.INTENSITY || 'low'] || PROFILES.low;

export const options = {
  scenarios: {
    checkout: {
      executor: 'ramping-vus',
      startVUs: 1,
      stages: [
        { duration: '1m', target: profile.peak },
        { duration: profile.hold, target: profile.peak },
        { duration: '1m', target: 0 },
      ],
      gracefulRampDown: '30s',
    },
  },
  // The same limits as the marketing dashboard's defaults (p95 under 1 s, errors under 1 %):
  // k6 exits 99 ("aborted by thresholds") when they are broken, and stops early on a disaster.
  thresholds: {
    http_req_duration: ['p(95)<1000'],
    'http_req_duration{name:product}': ['p(95)<1000'],
    'http_req_duration{name:add_to_cart}': ['p(95)<1500'],
    http_req_failed: [{ threshold: 'rate<0.01', abortOnFail: false }, { threshold: 'rate<0.10', abortOnFail: true, delayAbortEval: '30s' }],
    checks: ['rate>0.99'],
  },
};

const JSON_HEADERS = { headers: { 'Content-Type': 'application/json', Accept: 'application/json' } };

export default function () {
  group('product page', () => {
    const home = http.get(`${BASE_URL}/`, { tags: { name: 'home' } });
    check(home, { 'home: status 200': (r) => r.status === 200 });
    sleep(1);

    const product = http.get(`${BASE_URL}/product/${PRODUCT_ID}`, { tags: { name: 'product' } });
    check(product, {
      'product: status 200': (r) => r.status === 200,
      'product: page shows a price': (r) => typeof r.body === 'string' && /price/i.test(r.body),
    });
    sleep(2);
  });

  group('cart', () => {
    const add = http.post(
      `${BASE_URL}/cart/items`,
      JSON.stringify({ product_id: PRODUCT_ID, quantity: 1 }),
      Object.assign({ tags: { name: 'add_to_cart' } }, JSON_HEADERS),
    );
    check(add, { 'add to cart: status 200 or 201': (r) => r.status === 200 || r.status === 201 });
    sleep(1);

    const cart = http.get(`${BASE_URL}/cart`, { tags: { name: 'cart' } });
    check(cart, {
      'cart: status 200': (r) => r.status === 200,
      'cart: shows the product': (r) => typeof r.body === 'string' && r.body.includes(PRODUCT_ID),
    });
    sleep(2);
  });
}
