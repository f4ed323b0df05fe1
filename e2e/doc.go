// Package e2e holds onecharge's browser end-to-end tests: the storefront in
// web/ driven in Debian's headless Chromium through chromedp, against the
// whole server built by server/testenv (PostgreSQL store, the Stripe
// simulator reached by the real stripe-go client).
//
// Run them through the PostgreSQL harness:
//
//	scripts/with-postgres.sh go test ./e2e/...
//
// TestMain builds the WASM bundle once per test process into a temporary
// directory, together with copies of web/*.html, *.js and *.css and the
// toolchain's wasm_exec.js, and starts one browser; every test gets its own
// server (own origin) and its own incognito-like browser context. Without
// chromium on PATH the tests are skipped, except under CI=true, where that is
// a failure. A failed test leaves a screenshot and the browser console of
// each of its tabs in e2e/testdata/failures/<TestName>/.
//
// ONECHARGE_UPDATE_SCREENSHOT=1 makes TestKeySurvivesRefresh rewrite
// docs/storefront.png.
package e2e
