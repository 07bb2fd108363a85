package rancher

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzScanEvent is a differential fuzz of the event scanner (scanEvent) against encoding/json: for every frame
// that encoding/json decodes as a JSON object (with "name" and "resourceType" each at most once: Cattle writes
// each key once), scanEvent finds the same event name and resource type (a value that is not a string reads as
// ""), and fails exactly when the frame has no event name and not both keys. On any other input it may stop early,
// as it does once both keys are known, but it never panics.
func FuzzScanEvent(f *testing.F) {
	for _, seed := range []string{
		`{"id":"e1","name":"resource.change","resourceType":"registryCredential","resourceId":"1c5","data":{"resource":{"id":"1c5","type":"registryCredential","registryId":"1sp3","links":{"self":"http:\/\/r\/v2-beta\/registrycredentials\/1c5"}}},"time":1764400000000,"replyTo":null}`,
		`{"id":"e2","name":"ping","resourceType":null,"resourceId":null,"data":{"options":{},"resources":[]},"time":1}`,
		`{"data":{"resource":{"labels":{"a":"}]\"{["},"ports":["8080:8080/tcp"]}},"resourceType":"container","name":"resource.change"}`,
		`{"n\u0061me":"resource.change","resourceType":"service\u0073"}`,
		`{"name":"logout"}`, `{"name":"resource.change","data":null}`, `{"resourceType":"registry"}`, `{}`, `[]`, `null`,
		`{"name":5,"resourceType":true}`, `{"name":"a","name":"b","resourceType":"c"}`, " {\t\"name\" :\r\n\"x\" } ",
		`{"name":"\ud800","resourceType":"\xff"}`, `{"name":"resource.change","resourceType":"registry"`, "\x00\xff", "{\"name\":\"\xff\",\"resourceType\":\"r\xc3\"}",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		name, typ, err := scanEvent(frame) // must not panic, whatever the frame
		wantName, wantType, both, ok := reference(frame)
		if !ok {
			return
		}
		wantErr := !both && wantName == ""
		if (err != nil) != wantErr || err == nil && (name != wantName || typ != wantType) {
			t.Errorf("scanEvent(%q) = %q, %q, %v; encoding/json reads name %q, resourceType %q (both present: %v)",
				frame, name, typ, err, wantName, wantType, both)
		}
	})
}

// reference reads a frame as encoding/json does: the string values of "name" and "resourceType" ("" for a value
// of another kind or a missing key), and whether both keys are present. ok is false when the frame is not a JSON
// object, or names either key twice.
func reference(frame []byte) (name, typ string, both, ok bool) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(frame, &obj); err != nil || obj == nil || countKeys(frame) > 1 {
		return "", "", false, false
	}
	str := func(key string) (string, bool) {
		raw, present := obj[key]
		var s string
		if present && json.Unmarshal(raw, &s) != nil {
			s = ""
		}
		return s, present
	}
	name, haveName := str("name")
	typ, haveType := str("resourceType")
	return name, typ, haveName && haveType, true
}

// countKeys returns how many times the top-level object of a valid JSON frame names "name" or "resourceType", at
// most: the larger of the two counts.
func countKeys(frame []byte) int {
	dec := json.NewDecoder(bytes.NewReader(frame))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return 0
	}
	counts := map[string]int{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return 0
		}
		if key, ok := tok.(string); ok {
			counts[key]++
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return 0
		}
	}
	return max(counts["name"], counts["resourceType"])
}
