package verp

import (
	"strings"
	"testing"

	"github.com/newsroom/digest/internal/token"
)

func TestAddress(t *testing.T) {
	tests := []struct {
		bounce, token, want, err string
	}{
		{"bounces@bounces.example.org", "AQAAAAAAAAAq-_Yz", "bounces+AQAAAAAAAAAq-_Yz@bounces.example.org", ""},
		{"digest.bounces@example.org", "42", "digest.bounces+42@example.org", ""},
		{"Bounces@Example.ORG", "x", "Bounces+x@Example.ORG", ""},
		{"bounces@example.org", "", "", `verp: token "": want 1 or more letters, digits, _ or -`},
		{"bounces@example.org", "a+b", "", `verp: token "a+b": want 1 or more letters, digits, _ or -`},
		{"bounces@example.org", "a@b", "", `verp: token "a@b": want 1 or more letters, digits, _ or -`},
		{"bounces@example.org", "a.b", "", `verp: token "a.b": want 1 or more letters, digits, _ or -`},
		{"bounces@example.org", "a=", "", `verp: token "a=": want 1 or more letters, digits, _ or -`},
		{"bounces@example.org", "a\r\nRCPT TO:<x@y.z>", "", `verp: token "a\r\nRCPT TO:<x@y.z>": want 1 or more letters, digits, _ or -`},
		{"bounces@example.org", strings.Repeat("t", 57), "", `verp: address for "bounces@example.org": local part would be 65 characters, over SMTP's 64`},
		{"bounces", "t", "", `verp: bounce address "bounces" is not a bare address like bounces@bounces.example.org`},
		{"Digest <bounces@example.org>", "t", "", `verp: bounce address "Digest <bounces@example.org>" is not a bare address like bounces@bounces.example.org`},
		{`"b s"@example.org`, "t", "", `verp: bounce address "\"b s\"@example.org" is not a bare address like bounces@bounces.example.org`},
		{"bounces@example.org\r\n", "t", "", `verp: bounce address "bounces@example.org\r\n" is not a bare address like bounces@bounces.example.org`},
		{"bounces@bücher.example", "t", "", `verp: bounce address "bounces@bücher.example" is not a bare address like bounces@bounces.example.org`},
		{".bounces@example.org", "t", "", `verp: bounce address ".bounces@example.org": the part before @ must be letters, digits and ._- without leading, trailing or double dots`},
		{"bounces+x@example.org", "t", "", `verp: bounce address "bounces+x@example.org": the part before @ must not contain '+', which starts the per-message token`},
		{"bounces@localhost", "t", "", `verp: bounce address "bounces@localhost": "localhost" is not a domain name`},
		{"bounces@exa_mple.org", "t", "", `verp: bounce address "bounces@exa_mple.org": "exa_mple.org" is not a domain name`},
		{strings.Repeat("b", 64) + "@example.org", "t", "", `verp: bounce address "` + strings.Repeat("b", 64) + `@example.org": the part before @ leaves no room for a token within SMTP's 64 characters`},
	}
	for _, tt := range tests {
		got, err := Address(tt.bounce, tt.token)
		gotErr := ""
		if err != nil {
			gotErr = err.Error()
		}
		if got != tt.want || gotErr != tt.err {
			t.Errorf("Address(%q, %q) = %q, %q; want %q, %q", tt.bounce, tt.token, got, gotErr, tt.want, tt.err)
		}
	}
}

func TestToken(t *testing.T) {
	tests := []struct {
		addr, token string
		ok          bool
	}{
		{"bounces+AQAAAAAAAAAq-_Yz@bounces.example.org", "AQAAAAAAAAAq-_Yz", true},
		{"bounces+aBc@example.org", "aBc", true}, // case kept
		{"digest.bounces+42@example.org", "42", true},
		{"bounces@example.org", "", false},         // no token
		{"bounces+@example.org", "", false},        // empty token
		{"+abc@example.org", "", false},            // no base local part
		{"bounces+a+b@example.org", "", false},     // + inside the token
		{"bounces+a.b@example.org", "", false},     // . inside the token
		{"bounces+abc", "", false},                 // no domain
		{"bounces+abc@", "", false},                // empty domain
		{"bounces+abc@localhost", "", false},       // not a domain Address makes
		{"<bounces+abc@example.org>", "", false},   // brackets: pass the bare address
		{"\"b s\"+abc@example.org", "", false},     // quoted local part
		{"bounces+abc@x@example.org", "", false},   // two @
		{"bounces+ab c@example.org", "", false},    // space
		{"bounces+abc\r\n@example.org", "", false}, // line break
	}
	for _, tt := range tests {
		got, ok := Token(tt.addr)
		if got != tt.token || ok != tt.ok {
			t.Errorf("Token(%q) = %q, %v; want %q, %v", tt.addr, got, ok, tt.token, tt.ok)
		}
	}
}

// TestDeliveryTokenRoundTrip checks the form digest uses: a signed delivery
// id from package token survives the trip into an address and back, and
// still verifies.
func TestDeliveryTokenRoundTrip(t *testing.T) {
	signer, err := token.NewSigner([]byte(strings.Repeat("k", token.MinSecretLen)))
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []int64{1, 42, 1 << 40, 1<<63 - 1} {
		tok := signer.Sign("bounce", id)
		addr, err := Address("bounces@bounces.example.org", tok)
		if err != nil {
			t.Fatalf("Address for delivery %d: %v", id, err)
		}
		got, ok := Token(addr)
		if !ok || got != tok {
			t.Fatalf("Token(%q) = %q, %v; want %q", addr, got, ok, tok)
		}
		if back, err := signer.Verify("bounce", got); err != nil || back != id {
			t.Errorf("delivery %d came back as %d, %v", id, back, err)
		}
	}
}

// FuzzToken checks that Token never panics and that what it accepts is an
// address Address would have made from the same token.
func FuzzToken(f *testing.F) {
	for _, s := range []string{
		"bounces+AQAAAAAAAAAq-_Yz@bounces.example.org", "bounces@example.org", "+@", "a+b+c@d.e",
		"\"q\"+t@example.org", "b+t@-x.org", "b+t@x..org",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, addr string) {
		tok, ok := Token(addr)
		if !ok {
			return
		}
		at := strings.LastIndexByte(addr, '@')
		base := addr[:strings.IndexByte(addr, '+')] + addr[at:]
		again, err := Address(base, tok)
		if err != nil && !strings.Contains(err.Error(), "over SMTP's") && !strings.Contains(err.Error(), "no room") {
			t.Fatalf("Token(%q) = %q but Address(%q, %q) fails: %v", addr, tok, base, tok, err)
		}
		if err == nil && again != addr {
			t.Fatalf("Address(%q, %q) = %q, want %q", base, tok, again, addr)
		}
	})
}
