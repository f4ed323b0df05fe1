//go:build !js || workers

package checkout

import "time"

// Cart is a user's cart, priced.
type Cart struct {
	Items     []Line    `json:"items"`
	Amount    int64     `json:"amount"`
	Currency  string    `json:"currency"`
	UpdatedAt time.Time `json:"updated_at"`
}

// CartResponse is the body of GET and PUT /api/cart.
type CartResponse struct {
	Cart Cart `json:"cart"`
}
