// Package httpapi is onecharge's HTTP interface: gorilla/mux routes, the
// JSON error writer with the contract's status table, the anonymous-session
// authenticator, and static serving of the storefront. Handlers return
// errors; one function turns them into responses and logs only the 5xx.
package httpapi
