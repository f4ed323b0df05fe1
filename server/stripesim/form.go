package stripesim

import (
	"cmp"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// Stripe's form encoding: nested values as name[key], arrays as name[0] or
// name[], objects in arrays as name[0][field][sub].

// formMap returns the values sent as name[key]=value; ok reports whether
// any was sent (or name itself, sent empty to clear the map).
func formMap(form url.Values, name string) (m map[string]string, ok bool) {
	prefix := name + "["
	for k, vs := range form {
		if k == name {
			ok = true
			continue
		}
		rest, found := strings.CutPrefix(k, prefix)
		if !found || !strings.HasSuffix(rest, "]") || len(vs) == 0 {
			continue
		}
		if m == nil {
			m = map[string]string{}
		}
		m[strings.TrimSuffix(rest, "]")] = vs[len(vs)-1]
		ok = true
	}
	return m, ok
}

// formList returns the values of name[0], name[1], ... or name[] in order.
func formList(form url.Values, name string) ([]string, bool) {
	type iv struct {
		i int
		v string
	}
	var items []iv
	found := false
	for k, vs := range form {
		rest, ok := strings.CutPrefix(k, name+"[")
		if !ok || !strings.HasSuffix(rest, "]") {
			continue
		}
		idx := strings.TrimSuffix(rest, "]")
		if idx == "" {
			for j, v := range vs {
				items = append(items, iv{1<<30 + j, v})
			}
			found = true
			continue
		}
		i, err := strconv.Atoi(idx)
		if err != nil || len(vs) == 0 {
			continue
		}
		items = append(items, iv{i, vs[len(vs)-1]})
		found = true
	}
	slices.SortStableFunc(items, func(a, b iv) int { return cmp.Compare(a.i, b.i) })
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.v
	}
	return out, found
}

// formObjects groups name[i][a][b]=v into one url.Values per index i,
// ordered by i, with keys written "a.b".
func formObjects(form url.Values, name string) []url.Values {
	byIndex := map[int]url.Values{}
	for k, vs := range form {
		rest, ok := strings.CutPrefix(k, name+"[")
		if !ok {
			continue
		}
		idx, path, ok := strings.Cut(rest, "]")
		if !ok || !strings.HasPrefix(path, "[") || !strings.HasSuffix(path, "]") {
			continue
		}
		i, err := strconv.Atoi(idx)
		if err != nil {
			continue
		}
		field := strings.ReplaceAll(strings.Trim(path, "[]"), "][", ".")
		if byIndex[i] == nil {
			byIndex[i] = url.Values{}
		}
		byIndex[i][field] = vs
	}
	idxs := make([]int, 0, len(byIndex))
	for i := range byIndex {
		idxs = append(idxs, i)
	}
	slices.Sort(idxs)
	out := make([]url.Values, len(idxs))
	for j, i := range idxs {
		out[j] = byIndex[i]
	}
	return out
}

// formInt parses an integer parameter; present is false when absent.
func formInt(form url.Values, name string) (v int64, present bool, bad response) {
	if !form.Has(name) {
		return 0, false, response{}
	}
	s := form.Get(name)
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, true, paramError("parameter_invalid_integer", name, "Invalid integer: "+s)
	}
	return v, true, response{}
}

// requiredInt parses the required integer field name of form, at least
// min; param is how errors name it (e.g. "line_items[0][quantity]").
func requiredInt(form url.Values, name, param string, min int64, tooSmall string) (int64, response) {
	v, ok, bad := formInt(form, name)
	switch {
	case bad.status != 0:
		return 0, paramError("parameter_invalid_integer", param, "Invalid integer: "+form.Get(name))
	case !ok:
		return 0, missingParam(param)
	case v < min:
		return 0, paramError("parameter_invalid_integer", param, tooSmall)
	}
	return v, response{}
}

// formBool parses a boolean parameter.
func formBool(form url.Values, name string) (v bool, present bool, bad response) {
	if !form.Has(name) {
		return false, false, response{}
	}
	switch s := form.Get(name); s {
	case "true":
		return true, true, response{}
	case "false":
		return false, true, response{}
	default:
		return false, true, paramError("parameter_invalid_boolean", name, "Invalid boolean: "+s)
	}
}

// fingerprint identifies a request's parameters for idempotency: method,
// path and the form in canonical (sorted) encoding.
func fingerprint(c *call) string {
	return c.method + " " + c.path + "\n" + c.form.Encode()
}
