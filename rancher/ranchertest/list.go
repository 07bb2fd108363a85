package ranchertest

import (
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// modifier is a Cattle filter modifier, in the order filters are echoed.
type modifier uint8

const (
	mEq modifier = iota
	mNe
	mLt
	mLte
	mGt
	mGte
	mPrefix
	mLike
	mNotLike
	mNull
	mNotNull
)

var modifierNames = map[string]modifier{"eq": mEq, "ne": mNe, "lt": mLt, "lte": mLte, "gt": mGt, "gte": mGte,
	"prefix": mPrefix, "like": mLike, "notlike": mNotLike, "null": mNull, "notnull": mNotNull}

// cond is one filter condition from the query: field <modifier> one of values.
type cond struct {
	field  int // index into the kind's filter list
	name   string
	mod    modifier
	modStr string
	values []string
}

// parseConds reads the filters of a list query. Only the kind's filterable fields count; anything else is ignored,
// as Cattle does. It also reports whether a "removed" filter is present (which turns off hiding removed resources).
func parseConds(q url.Values, filters []string) (conds []cond, removed bool) {
	for k, vals := range q {
		field, modStr := k, "eq"
		if i := strings.LastIndexByte(k, '_'); i > 0 {
			if _, ok := modifierNames[k[i+1:]]; ok {
				field, modStr = k[:i], k[i+1:]
			}
		}
		fi := sort.SearchStrings(filters, field)
		if fi == len(filters) || filters[fi] != field {
			continue
		}
		conds = append(conds, cond{field: fi, name: field, mod: modifierNames[modStr], modStr: modStr, values: vals})
		if field == "removed" {
			removed = true
		}
	}
	sort.Slice(conds, func(i, j int) bool {
		if conds[i].field != conds[j].field {
			return conds[i].field < conds[j].field
		}
		return conds[i].mod < conds[j].mod
	})
	return conds, removed
}

// value returns a resource's value of a filterable field and whether it is null.
func value(r *resource, field string) (string, bool) {
	var v string
	switch field {
	case "accountId":
		if r.env != nil {
			v = r.env.id
		}
	case "created":
		v = r.created
	case "description":
		v = r.description
	case "id":
		v = r.id
	case "kind":
		switch r.kind {
		case kProject:
			v = "project"
		case kRegistry:
			v = "registry"
		case kService:
			v = "service"
		default:
			v = "registryCredential"
		}
	case "name":
		v = r.name
	case "publicValue":
		v = r.publicValue
	case "registryId":
		v = r.registryID
	case "removed":
		v = r.removed
	case "stackId":
		if r.svc != nil {
			v = r.svc.stackID
		}
	case "state":
		v = r.state
	case "uuid":
		v = r.uuid
	}
	return v, v == ""
}

// idNum parses the number of a Cattle id such as "1c17" (-1 if it is not one).
func idNum(id string) int64 {
	if len(id) < 3 || id[0] != '1' {
		return -1
	}
	i := 1
	for i < len(id) && id[i] >= 'a' && id[i] <= 'z' {
		i++
	}
	if i == 1 || i == len(id) {
		return -1
	}
	n, err := strconv.ParseInt(id[i:], 10, 64)
	if err != nil || n < 0 {
		return -1
	}
	return n
}

func compare(field, a, b string) int {
	if field == "id" {
		if x, y := idNum(a), idNum(b); x >= 0 && y >= 0 {
			switch {
			case x < y:
				return -1
			case x > y:
				return 1
			}
			return 0
		}
	}
	return strings.Compare(a, b)
}

// like matches SQL LIKE patterns: % any run, _ any one character. Case-sensitive.
func like(s, pattern string) bool {
	for len(pattern) > 0 {
		switch pattern[0] {
		case '%':
			for len(pattern) > 0 && pattern[0] == '%' {
				pattern = pattern[1:]
			}
			if pattern == "" {
				return true
			}
			for i := 0; i <= len(s); i++ {
				if like(s[i:], pattern) {
					return true
				}
			}
			return false
		case '_':
			if s == "" {
				return false
			}
			s = s[1:]
		default:
			if s == "" || s[0] != pattern[0] {
				return false
			}
			s = s[1:]
		}
		pattern = pattern[1:]
	}
	return s == ""
}

func (c *cond) match(r *resource) bool {
	v, isNull := value(r, c.name)
	switch c.mod {
	case mNull:
		return isNull
	case mNotNull:
		return !isNull
	case mNe, mNotLike:
		return c.matchNone(v, isNull)
	case mEq, mPrefix, mLike:
		return !isNull && c.matchAny(v)
	}
	return !isNull && c.matchOrder(v) // a null value is in no order
}

// matchNone is ne and notlike: v equals (ne) or is like (notlike, never a null value) none of the values.
func (c *cond) matchNone(v string, isNull bool) bool {
	for _, x := range c.values {
		if (c.mod == mNe && v == x) || (c.mod == mNotLike && !isNull && like(v, x)) {
			return false
		}
	}
	return true
}

// matchAny is eq, prefix and like: v (not null) equals, starts with or is like one of the values.
func (c *cond) matchAny(v string) bool {
	for _, x := range c.values {
		switch {
		case c.mod == mEq && v == x, c.mod == mPrefix && strings.HasPrefix(v, x), c.mod == mLike && like(v, x):
			return true
		}
	}
	return false
}

// matchOrder is lt, lte, gt and gte: v (not null) against the first value ("" when there is none).
func (c *cond) matchOrder(v string) bool {
	x := ""
	if len(c.values) > 0 {
		x = c.values[0]
	}
	d := compare(c.name, v, x)
	switch c.mod {
	case mLt:
		return d < 0
	case mLte:
		return d <= 0
	case mGt:
		return d > 0
	}
	return d >= 0 // mGte
}

// pageSpec is what a list request asks for.
type pageSpec struct {
	conds       []cond
	showRemoved bool
	offset      int   // m<offset> marker
	after       int64 // id marker: start after this id number (-1 none)
	limit       int
}

func (p *pageSpec) match(r *resource) bool {
	if !p.showRemoved && hiddenState(r.state) {
		return false
	}
	for i := range p.conds {
		if !p.conds[i].match(r) {
			return false
		}
	}
	return true
}

// collect returns one page from the merged sources (each sorted by id) and whether more items match. It does
// O(offset + page) work, O(page) when nothing needs filtering out.
func collect(srcs []*index, p *pageSpec) (page []*resource, more bool) {
	if len(srcs) == 1 && len(p.conds) == 0 && (p.showRemoved || srcs[0].hidden == 0) {
		items := srcs[0].items
		if p.after >= 0 {
			items = items[srcs[0].from(p.after):]
		}
		if p.offset >= len(items) {
			return nil, false
		}
		items = items[p.offset:]
		if len(items) > p.limit {
			return items[:p.limit], true
		}
		return items, false
	}
	var posBuf [8]int
	pos := posBuf[:0]
	for _, ix := range srcs {
		start := 0
		if p.after >= 0 {
			start = ix.from(p.after)
		}
		pos = append(pos, start)
	}
	skip := p.offset
	for {
		best := -1
		for i, ix := range srcs {
			if pos[i] < len(ix.items) && (best < 0 || ix.items[pos[i]].num < srcs[best].items[pos[best]].num) {
				best = i
			}
		}
		if best < 0 {
			return page, false
		}
		r := srcs[best].items[pos[best]]
		pos[best]++
		if !p.match(r) {
			continue
		}
		if skip > 0 {
			skip--
			continue
		}
		if len(page) == p.limit {
			return page, true
		}
		if page == nil {
			page = make([]*resource, 0, min(p.limit, 128))
		}
		page = append(page, r)
	}
}

// writeCollection writes a list answer.
func writeCollection(e *enc, c *call, resourceType string, filters []string, p *pageSpec, page []*resource,
	next string) {
	e.raw(`{"type":"collection","resourceType":`)
	e.str(resourceType)
	e.raw(`,"links":{"self":`)
	if c.rawQuery != "" {
		e.strs(c.origin, c.path, "?", c.rawQuery)
	} else {
		e.strs(c.origin, c.path)
	}
	e.raw(`},"createTypes":{},"actions":{},"data":[`)
	for i, r := range page {
		if i > 0 {
			e.raw(",")
		}
		writeResource(e, r, c.base, c.verBase, r.state, false)
	}
	e.raw(`],"sortLinks":{`)
	for i, name := range filters {
		if i > 0 {
			e.raw(",")
		}
		e.key(name)
		e.strs(c.origin, c.path, "?sort=", name)
	}
	e.raw(`},"pagination":{"first":null,"previous":null,"next":`)
	e.nstr(next)
	e.raw(`,"limit":`)
	e.int(int64(p.limit))
	e.raw(`,"total":null,"partial":`)
	e.bool(next != "")
	e.raw(`},"sort":null,"filters":{`)
	ci := 0
	for i, name := range filters {
		if i > 0 {
			e.raw(",")
		}
		e.key(name)
		if ci >= len(p.conds) || p.conds[ci].field != i {
			e.null()
			continue
		}
		e.raw("[")
		first := true
		for ; ci < len(p.conds) && p.conds[ci].field == i; ci++ {
			vals := p.conds[ci].values
			if len(vals) == 0 {
				vals = []string{""}
			}
			for _, v := range vals {
				if !first {
					e.raw(",")
				}
				first = false
				e.raw(`{"modifier":`)
				e.str(p.conds[ci].modStr)
				e.raw(`,"value":`)
				e.nstr(v)
				e.raw("}")
			}
		}
		e.raw("]")
	}
	e.raw(`},"createDefaults":{}}`)
}
