package memstore_test

import (
	"testing"

	"github.com/onecharge/onecharge/server/checkoutsvc"
	"github.com/onecharge/onecharge/server/memstore"
	"github.com/onecharge/onecharge/server/storetest"
	"github.com/stretchr/testify/assert"
)

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) checkoutsvc.Store { return memstore.New() })
}

func TestCatalog(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		assert.Equal(t, storetest.Catalog(), memstore.Catalog())
	})
}

func TestErrInvalidUserID(t *testing.T) {
	_, err := memstore.New().UpsertCart(t.Context(), "42", nil)
	assert.ErrorIs(t, err, memstore.ErrInvalidUserID)
}
