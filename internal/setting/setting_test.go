package setting

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestWords: every setting has a neutral word; the words are the references main.go renames, so none is empty,
// none contains another (a replacement would cut it), and each is of characters that JSON and a quoted logfmt value
// keep as they are (the scrubber renames the encoded line). An ID that is none still reads as something.
func TestWords(t *testing.T) {
	plain := regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9 -]*[A-Za-z0-9]$`)
	for id := ID(1); id < NumIDs; id++ {
		w := id.String()
		if !plain.MatchString(w) || strings.HasPrefix(w, "setting ") {
			t.Errorf("setting %d: word %q", id, w)
		}
		js, _ := json.Marshal(w)
		if string(js) != `"`+w+`"` || strconv.Quote(w) != `"`+w+`"` {
			t.Errorf("%q is escaped: %s, %s", w, js, strconv.Quote(w))
		}
		for other := ID(1); other < NumIDs; other++ {
			if other != id && strings.Contains(w, other.String()) {
				t.Errorf("%q contains %q", w, other.String())
			}
		}
	}
	if ID(0).String() != "setting 0" || NumIDs.String() == "" {
		t.Errorf("the IDs that are none read %q, %q", ID(0).String(), NumIDs.String())
	}
}

// TestNamer: every neutral word becomes its name, the rest of the text stays; a text read where no names are
// installed keeps the words.
func TestNamer(t *testing.T) {
	names := Namer(func(id ID) string { return fmt.Sprintf("VAR_%d", id) })
	text := fmt.Sprintf("%s names %q, but %s is an Environment API key; set %s=true", Environments, "x", AccessKey, AutoCreate)
	if text != `the environment selection names "x", but the Rancher access key is an Environment API key; set auto-creation=true` {
		t.Errorf("neutral: %s", text)
	}
	want := fmt.Sprintf(`VAR_%d names "x", but VAR_%d is an Environment API key; set VAR_%d=true`, Environments, AccessKey, AutoCreate)
	if got := names.Replace(text); got != want {
		t.Errorf("named: %s, want %s", got, want)
	}
	for id := ID(1); id < NumIDs; id++ {
		if got := names.Replace("[" + id.String() + "]"); got != fmt.Sprintf("[VAR_%d]", id) {
			t.Errorf("%s is named %s", id, got)
		}
	}
}

// TestError: a configuration error names its setting first and unwraps to its cause.
func TestError(t *testing.T) {
	cause := errors.New("not set")
	var err error = fmt.Errorf("start: %w", &Error{ID: URL, Err: cause})
	var se *Error
	if !errors.As(err, &se) || se.ID != URL || !errors.Is(err, cause) || err.Error() != "start: the Rancher URL: not set" {
		t.Errorf("%v", err)
	}
	if e := Errorf(Region, "%q is no region", "mars"); e.ID != Region || e.Error() != `the AWS region: "mars" is no region` {
		t.Errorf("%v", e)
	}
}
