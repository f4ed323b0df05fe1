// Package memstore is the embedded default store of onecharge: every table
// of server/postgres kept in memory behind one mutex, with the same
// semantics, so that `make run` works without a database.
//
// Each method of [Store] runs entirely under the mutex, which makes it
// atomic and, for ClaimKey, holds the key "exclusively" while decide runs
// (decide must therefore not call the store). Times are stored in UTC with
// microsecond precision, as PostgreSQL stores timestamptz, so both stores
// answer the same values. The demo catalog is built in and is the same as
// the one the PostgreSQL migration inserts (server/storetest checks it).
//
// UpsertCart stamps updated_at with [Store].Now (time.Now by default);
// ClaimKey, ReplayKey and ApplyEvent with the time they are passed.
//
// Nothing is persisted: a restart forgets carts, keys and orders.
package memstore
