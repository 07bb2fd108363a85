package rancher

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// What Rancher answers is checked before it is believed: a 200 whose body is not a collection of the type asked
// for ({}, null, "data": null, an error object, another type) is a failed read, never an empty list.

// Why the package decodes list pages itself (the amplification issue 19 measured): go-rancher's collection types
// decode every item into its whole generated struct, whatever the item's size on the wire. A client.Registry is
// 344 bytes (17 strings, the links and actions maps, a slice, and a data map[string]interface{} in which every
// number or object becomes a boxed interface value), a client.Service 528 plus its launchConfig; encoding/json
// grows the []client.Registry by reallocating and copying it, item after item; and only then did the package count
// the items. So a page of 19.5 MiB of "{}," (6.8 million items of 3 bytes, well under the 32 MiB bound of one
// answer) held 5 GB live while it was decoded, about 250 times its size, and Go's collector let the heap grow to
// twice that; and pages of items with one long field, each page under the bound, were all held to the end (30
// pages of 19.5 MiB: 585 MiB kept, 676 MB live). Now each item is decoded alone into a small struct of the fields
// the package uses (everything else is skipped unread), its type checked, and only what is kept is counted
// against what the whole list may still hold (maxItems, maxListBytes), before the next item is decoded: a page
// costs about its own size plus what the list keeps, and a list stops at its bounds in the middle of a page.

// listBudget is what the rest of one list may still hold.
type listBudget struct {
	items int
	bytes int
}

// Errors of a list past its bounds.
var (
	errListItems = fmt.Errorf("rancher listed more than %d items", maxItems)
	errListBytes = fmt.Errorf("rancher's list holds more than %d MiB", maxListBytes>>20)
)

// keepFunc converts one decoded item into what a list keeps: the item's type as the list checks it, the value
// kept, and its size (the bytes of its strings and of the value itself).
type keepFunc[I, T any] func(*I) (typ string, v T, size int)

// pageOf is the response object a list gives go-rancher for one page: the collection's envelope, and its data
// decoded item by item (itemsOf). Every other field of the answer is skipped unread.
type pageOf[I, T any] struct {
	Type         string `json:"type"`
	ResourceType string `json:"resourceType"`
	Pagination   *struct {
		Next string `json:"next"`
	} `json:"pagination"`
	Data itemsOf[I, T] `json:"data"`
}

// itemsOf decodes a collection's data: one item at a time into I, checked and kept as T within the budget. It
// records a failure (an item of another type, a bound passed) rather than returning it, so that go-rancher,
// which quotes the whole body in the errors of its decoder, never sees it; pageOf.page returns it.
type itemsOf[I, T any] struct {
	want   string
	keep   keepFunc[I, T]
	budget listBudget // what this page may hold

	present bool // a data array was there (even empty)
	items   []T
	size    int
	err     error
}

func newPageOf[I, T any](want string, keep keepFunc[I, T], budget listBudget) *pageOf[I, T] {
	return &pageOf[I, T]{Data: itemsOf[I, T]{want: want, keep: keep, budget: budget}}
}

// UnmarshalJSON implements json.Unmarshaler; it fails only where encoding/json would (never, on the valid JSON
// json.Unmarshal checked already).
func (d *itemsOf[I, T]) UnmarshalJSON(b []byte) error {
	d.present, d.items, d.size, d.err = false, nil, 0, nil
	if string(b) == "null" {
		return nil
	}
	d.present = true
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
		d.err = fmt.Errorf("rancher's list of %s has data that is not a list", d.want)
		return nil
	}
	var item I
	for i := 0; dec.More(); i++ {
		if len(d.items) >= d.budget.items {
			d.err = errListItems
			return nil
		}
		var zero I
		item = zero
		if err := dec.Decode(&item); err != nil {
			d.err = fmt.Errorf("item %d of rancher's list of %s: %s", i, d.want, itemErrorText(err))
			return nil
		}
		typ, v, size := d.keep(&item)
		switch {
		case typ != d.want:
			d.err = fmt.Errorf("item %d of rancher's list of %s is a %q", i, d.want, truncate(typ))
			return nil
		case d.size+size > d.budget.bytes:
			d.err = errListBytes
			return nil
		}
		d.size += size
		d.items = append(d.items, v)
	}
	return nil
}

// itemErrorText describes why an item could not be decoded, without any of the document: encoding/json's errors
// as jsonErrorText says them, the package's own decoders' (sidekicks) as they are, since they quote nothing.
func itemErrorText(err error) string {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	if errors.As(err, &syntax) || errors.As(err, &typ) {
		return jsonErrorText(err)
	}
	return truncate(err.Error())
}

// page checks the decoded answer: a "collection" of the type asked for, with a data array (even empty), whose
// every item is of that type, within the list's bounds.
func (p *pageOf[I, T]) page() (page[T], error) {
	if err := isCollection(p.Type, p.ResourceType, p.Data.want, !p.Data.present); err != nil {
		return page[T]{}, err
	}
	if p.Data.err != nil {
		return page[T]{}, p.Data.err
	}
	out := page[T]{items: p.Data.items, size: p.Data.size}
	if p.Pagination != nil {
		out.next = p.Pagination.Next
	}
	return out, nil
}

// isCollection checks the envelope of a list answer.
func isCollection(typ, resourceType, want string, noData bool) error {
	switch {
	case typ != "collection":
		return fmt.Errorf("rancher answered with a %q where a list of %s was expected", truncate(typ), want)
	case resourceType != want:
		return fmt.Errorf("rancher answered with a list of %q where a list of %s was expected", truncate(resourceType), want)
	case noData:
		return fmt.Errorf("rancher's list of %s has no data", want)
	}
	return nil
}

// written checks the answer to a write: Rancher answers with the resource written, of the type written (and the
// id, for an update). Anything else means the write did not happen where it was sent.
func written(gotType, gotID, wantType, wantID string) error {
	switch {
	case gotType != wantType:
		return fmt.Errorf("rancher answered the write with a %q, not a %s: the write is not known to be made", truncate(gotType), wantType)
	case gotID == "":
		return fmt.Errorf("rancher answered the write with a %s without id: the write is not known to be made", wantType)
	case wantID != "" && gotID != wantID:
		return fmt.Errorf("rancher answered with %s %s", wantType, truncate(gotID))
	}
	return nil
}

// jsonErrorText describes a JSON decoding failure without any of the document.
func jsonErrorText(err error) string {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return fmt.Sprintf("syntax error at byte %d", syntax.Offset)
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "the document"
		}
		return fmt.Sprintf("%s is not a %s (byte %d)", truncate(field), typ.Type, typ.Offset)
	}
	return "malformed"
}
