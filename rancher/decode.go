package rancher

import (
	"encoding/json"
	"errors"
	"fmt"

	client "github.com/rancher/go-rancher/v2"
)

// What Rancher answers is checked before it is believed: a 200 whose body is not a collection of the type asked
// for ({}, null, "data": null, an error object, another type) is a failed read, never an empty list.

// newPage checks a decoded collection page: a "collection" of resourceType want whose every item is a want, with
// a data array (even empty). It converts the items with conv, which also returns each item's type.
func newPage[D, T any](c *client.Collection, want string, data []D, conv func(D) (string, T)) (page[T], error) {
	if err := isCollection(c, want, data == nil); err != nil {
		return page[T]{}, err
	}
	out := page[T]{items: make([]T, len(data))}
	for i, d := range data {
		typ, item := conv(d)
		if typ != want {
			return page[T]{}, fmt.Errorf("item %d of rancher's list of %s is a %q", i, want, truncate(typ))
		}
		out.items[i] = item
	}
	if c.Pagination != nil {
		out.next = c.Pagination.Next
	}
	return out, nil
}

// isCollection checks the envelope of a list answer.
func isCollection(c *client.Collection, want string, noData bool) error {
	switch {
	case c.Type != "collection":
		return fmt.Errorf("rancher answered with a %q where a list of %s was expected", truncate(c.Type), want)
	case c.ResourceType != want:
		return fmt.Errorf("rancher answered with a list of %q where a list of %s was expected", truncate(c.ResourceType), want)
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
