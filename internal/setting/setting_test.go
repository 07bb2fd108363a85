package setting

import (
	"reflect"
	"testing"
)

// TestFilled: every empty name becomes its neutral wording, every given name is kept, and every field has a
// neutral wording (a field added without one would print nothing).
func TestFilled(t *testing.T) {
	neutral := reflect.ValueOf(Neutral())
	for i := range neutral.NumField() {
		if neutral.Field(i).String() == "" {
			t.Errorf("Neutral().%s is empty", neutral.Type().Field(i).Name)
		}
	}
	if got := (Names{}).Filled(); got != Neutral() {
		t.Errorf("Names{}.Filled() = %+v, want Neutral()", got)
	}
	got := Names{URL: "CATTLE_URL", Interval: "UPDATE_INTERVAL"}.Filled()
	want := Neutral()
	want.URL, want.Interval = "CATTLE_URL", "UPDATE_INTERVAL"
	if got != want {
		t.Errorf("Filled() = %+v, want %+v", got, want)
	}
	// Filled covers every field: a Names with every field set is left as it is.
	var all Names
	v := reflect.ValueOf(&all).Elem()
	for i := range v.NumField() {
		v.Field(i).SetString("X" + v.Type().Field(i).Name)
	}
	if all.Filled() != all {
		t.Errorf("Filled() changed a Names with every field set: %+v", all.Filled())
	}
}
