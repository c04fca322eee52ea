package mailsyntax

import (
	"strings"
	"testing"
)

func TestIsDotAtom(t *testing.T) {
	for s, want := range map[string]bool{
		"digest": true, "digest.news": true, "a+b_c-d": true, "o'brien": true,
		"": false, ".x": false, "x.": false, "a..b": false, "a b": false, "a@b": false, "zoë": false, "a\r\nb": false,
	} {
		if got := IsDotAtom(s); got != want {
			t.Errorf("IsDotAtom(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestIsHostname(t *testing.T) {
	for s, want := range map[string]bool{
		"example.org": true, "mail.example.org.": true, "localhost": true, "a-b.example": true, "xn--bcher-kva.de": true,
		"": false, ".": false, "-a.example": false, "a-.example": false, "a..b": false, "a_b.example": false,
		"bücher.de": false, strings.Repeat("a", 64) + ".org": false, strings.Repeat("a.", 127) + "org": false,
	} {
		if got := IsHostname(s); got != want {
			t.Errorf("IsHostname(%q) = %v, want %v", s, got, want)
		}
	}
}
