// The package under test, as built (dist/), exactly as users load it.
export * from '../dist/cjs/index.js';
