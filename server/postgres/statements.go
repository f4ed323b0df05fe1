package postgres

// HotStatements are the SQL texts of the store's hot paths, exactly as it
// sends them: the end-to-end benchmark's floors (tools/serverbench, a
// minimal net/http + pgx handler and pgbench) must run the very same
// statements (CONTRACT.md section 8).
type HotStatements struct {
	// ProductsByID: $1 text[] of product ids; rows id, name, unit_amount,
	// currency, active. PutCart's first statement, and the first of
	// Lookup's pipelined batch.
	ProductsByID string
	// KeyByID: $1 the key; one row of the columns scanKey reads. The
	// second statement of Lookup's batch.
	KeyByID string
	// ReplayKey: a replayed validation's one write (see DB.ReplayKey for
	// its twelve parameters); one row, a boolean.
	ReplayKey string
	// UpsertCart: $1 the user (uuid), $2 the items (jsonb); one row,
	// updated_at. PutCart's write.
	UpsertCart string
}

// Statements returns the hot paths' SQL texts.
func Statements() HotStatements {
	return HotStatements{ProductsByID: sqlProductsByID, KeyByID: sqlKeyByID, ReplayKey: sqlReplayKey, UpsertCart: sqlUpsertCart}
}
