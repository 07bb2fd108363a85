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

// schemaDoc is the part of a schemas document the updater reads.
type schemaDoc struct {
	client.Collection
	Data []struct {
		ID                string            `json:"id"`
		Type              string            `json:"type"`
		PluralName        string            `json:"pluralName"`
		Links             map[string]string `json:"links"`
		CollectionMethods []string          `json:"collectionMethods"`
		ResourceMethods   []string          `json:"resourceMethods"`
	} `json:"data"`
}

// decodeSchemas reads a schemas document and returns the schemas of the types named, with their collection and
// self links pinned to the origin. A body that is not a collection of schemas is an error (its text never
// carries the body).
func decodeSchemas(body []byte, o origin, types ...string) (map[string]client.Schema, error) {
	var doc schemaDoc
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, errors.New("rancher's schemas document is not JSON of the expected shape: " + jsonErrorText(err))
	}
	if err := isCollection(&doc.Collection, "schema", doc.Data == nil); err != nil {
		return nil, err
	}
	kept := make(map[string]client.Schema, len(types))
	for _, d := range doc.Data {
		want := false
		for _, t := range types {
			want = want || d.ID == t
		}
		if !want {
			continue
		}
		if d.Type != "schema" {
			return nil, fmt.Errorf("rancher's schema of %s is a %q", d.ID, truncate(d.Type))
		}
		if _, dup := kept[d.ID]; dup {
			return nil, fmt.Errorf("rancher's schemas document describes %s twice", d.ID)
		}
		links := make(map[string]string, 2)
		for _, name := range []string{client.COLLECTION, client.SELF} {
			if link, ok := d.Links[name]; ok {
				pinned, err := o.pin(link)
				if err != nil {
					return nil, fmt.Errorf("%s link of schema %s: %w", name, d.ID, err)
				}
				links[name] = pinned
			}
		}
		kept[d.ID] = client.Schema{
			Resource:          client.Resource{Id: d.ID, Type: d.Type, Links: links},
			PluralName:        d.PluralName,
			CollectionMethods: d.CollectionMethods,
			ResourceMethods:   d.ResourceMethods,
		}
	}
	return kept, nil
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
