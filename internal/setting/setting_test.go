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

// TestSetCoversNames: every field of Names is set by exactly one ID, and Set reports the IDs without a field.
func TestSetCoversNames(t *testing.T) {
	fields := map[string]int{}
	for id := ID(1); id < NumIDs; id++ {
		var n Names
		had := n.Set(id, "X")
		v := reflect.ValueOf(n)
		set := 0
		for i := range v.NumField() {
			if v.Field(i).String() == "X" {
				fields[v.Type().Field(i).Name]++
				set++
			}
		}
		if set > 1 || had != (set == 1) {
			t.Errorf("Set(%d) set %d fields and reported %v", id, set, had)
		}
	}
	n := reflect.TypeOf(Names{}).NumField()
	for i := range n {
		if name := reflect.TypeOf(Names{}).Field(i).Name; fields[name] != 1 {
			t.Errorf("Names.%s is set by %d IDs, want 1", name, fields[name])
		}
	}
	if (&Names{}).Set(0, "X") || (&Names{}).Set(NumIDs, "X") {
		t.Error("Set took an ID that is none")
	}
}
