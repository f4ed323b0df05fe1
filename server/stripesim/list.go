package stripesim

import (
	"net/http"
	"net/url"
	"strconv"
)

// List parameters, as Stripe's list endpoints take them.
const (
	defaultListLimit = 10
	maxListLimit     = 100
)

// listPaymentIntents answers GET /v1/payment_intents: the PaymentIntents
// newest first, as retrieve returns them, paginated by limit and one of
// starting_after (older than that object) or ending_before (newer than
// it, the limit closest to it), filtered by created (an exact time or
// created[gt|gte|lt|lte]). Secret key only.
func (s *Sim) listPaymentIntents(c *call) response {
	if c.public {
		return publicOnly()
	}
	f := c.form
	limit := int64(defaultListLimit)
	if v, ok, bad := formInt(f, "limit"); bad.status != 0 {
		return bad
	} else if ok {
		limit = v
	}
	if limit < 1 || limit > maxListLimit {
		return paramError("", "limit", "Invalid limit: must be between 1 and "+strconv.Itoa(maxListLimit))
	}
	after, before := f.Get("starting_after"), f.Get("ending_before")
	if after != "" && before != "" {
		return paramError("", "ending_before", "You may only specify one of these parameters: ending_before, starting_after.")
	}
	created, bad := formRange(f, "created")
	if bad.status != 0 {
		return bad
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	cursor, param := after, "starting_after"
	if before != "" {
		cursor, param = before, "ending_before"
	}
	var anchor *intent
	if cursor != "" {
		if anchor = s.intents[cursor]; anchor == nil {
			return resourceMissing("payment_intent", param, cursor)
		}
	}
	// Newest first: walk piOrder backwards from the cursor (starting_after)
	// or forwards from it (ending_before, collecting the closest first).
	var picked []*intent
	more := false
	visit := func(in *intent) bool {
		if in == nil || !created.contains(in.pi.Created) { // nil: forgotten
			return true
		}
		if int64(len(picked)) == limit {
			more = true
			return false
		}
		picked = append(picked, in)
		return true
	}
	if before != "" {
		for i := anchor.seq + 1; i < len(s.piOrder) && visit(s.intents[s.piOrder[i]]); i++ {
		}
		// Collected oldest first: the page lists newest first.
		for i, j := 0, len(picked)-1; i < j; i, j = i+1, j-1 {
			picked[i], picked[j] = picked[j], picked[i]
		}
	} else {
		start := len(s.piOrder) - 1
		if anchor != nil {
			start = anchor.seq - 1
		}
		for i := start; i >= 0 && visit(s.intents[s.piOrder[i]]); i-- {
		}
	}
	list := List[PaymentIntent]{Object: "list", Data: make([]PaymentIntent, len(picked)), HasMore: more, URL: "/v1/payment_intents"}
	for i, in := range picked {
		list.Data[i] = in.pi
	}
	return jsonResponse(http.StatusOK, list)
}

// timeRange is a list filter on a timestamp: an exact value or bounds.
type timeRange struct {
	gt, gte, lt, lte *int64
}

func (r timeRange) contains(t int64) bool {
	return (r.gt == nil || t > *r.gt) && (r.gte == nil || t >= *r.gte) &&
		(r.lt == nil || t < *r.lt) && (r.lte == nil || t <= *r.lte)
}

// formRange parses a range filter sent as name=t (exact) or
// name[gt|gte|lt|lte]=t.
func formRange(form url.Values, name string) (timeRange, response) {
	var r timeRange
	for _, b := range []struct {
		key string
		dst **int64
	}{{name, &r.gte}, {name + "[gt]", &r.gt}, {name + "[gte]", &r.gte}, {name + "[lt]", &r.lt}, {name + "[lte]", &r.lte}} {
		v, ok, bad := formInt(form, b.key)
		if bad.status != 0 {
			return r, bad
		}
		if ok {
			if b.key == name {
				r.lte = &v
			}
			*b.dst = &v
		}
	}
	return r, response{}
}
