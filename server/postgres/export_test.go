package postgres

// PoolMaxConns is the size of db's pool, for the external tests.
func PoolMaxConns(db *DB) int32 { return db.pool.Config().MaxConns }
