package sqlite

import (
	"encoding/json"
	"slices"
	"testing"
)

func TestParseIDList(t *testing.T) {
	tests := []struct {
		in      string
		want    []int64
		wantErr bool
	}{
		{in: "[]", want: nil},
		{in: "[7]", want: []int64{7}},
		{in: "[3,1,2]", want: []int64{3, 1, 2}},
		{in: " [ 3 , -1 ,0 ] ", want: []int64{3, -1, 0}},
		{in: "[9223372036854775807]", want: []int64{9223372036854775807}},
		{in: "", wantErr: true},
		{in: "[", wantErr: true},
		{in: "[1,]", wantErr: true},
		{in: "[,1]", wantErr: true},
		{in: "[1 2]", wantErr: true},
		{in: "[01]", wantErr: true},
		{in: "[1.5]", wantErr: true},
		{in: `["1"]`, wantErr: true},
		{in: "[1]x", wantErr: true},
		{in: "[9223372036854775808]", wantErr: true},
		{in: "null", wantErr: true},
	}
	for _, tt := range tests {
		got, err := parseIDList(tt.in)
		if (err != nil) != tt.wantErr || !slices.Equal(got, tt.want) {
			t.Errorf("parseIDList(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

// FuzzParseIDList: parseIDList never panics, accepts only what
// encoding/json reads as the same []int64, and reads back what
// int64sJSON writes.
func FuzzParseIDList(f *testing.F) {
	for _, s := range []string{"[]", "[1]", "[3,1,2]", " [ 1 ,2 ] ", "[-0]", "[01]", "[1e3]", "[1,]", "[[1]]", "[\"1\"]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ids, err := parseIDList(s)
		if err != nil {
			return
		}
		var want []int64
		if err := json.Unmarshal([]byte(s), &want); err != nil || !slices.Equal(ids, want) {
			t.Fatalf("parseIDList(%q) = %v, but encoding/json says %v, %v", s, ids, want, err)
		}
		back, err := parseIDList(int64sJSON(ids))
		if err != nil || !slices.Equal(back, ids) {
			t.Fatalf("round trip of %v: %v, %v", ids, back, err)
		}
	})
}
