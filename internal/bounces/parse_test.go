package bounces

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// dsn builds a multipart/report delivery-status notification as digest would
// receive it for one of its own messages.
func dsn(to, returnPath, recipientBlock string) string {
	return strings.ReplaceAll(`Return-Path: <>
Delivered-To: `+to+`
From: MAILER-DAEMON@mx.example.net (Mail Delivery System)
To: `+to+`
Subject: Undelivered Mail Returned to Sender
Date: Thu, 26 Nov 2026 07:00:05 +0000
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B"

--B
Content-Type: text/plain; charset=us-ascii

This is the mail system at host mx.example.net.

--B
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.net
Arrival-Date: Thu, 26 Nov 2026 07:00:01 +0000

`+recipientBlock+`
--B
Content-Type: text/rfc822-headers

Return-Path: <`+returnPath+`>
From: Morning Digest <digest@news.example.org>
To: reader@example.com
Subject: Your digest
Message-ID: <digest.20261126.a90d40f8b973302eb7722426@news.example.org>

--B--
`, "\n", "\r\n")
}

const failedBlock = "Final-Recipient: rfc822; reader@Example.COM\nAction: failed\nStatus: 5.1.1\nDiagnostic-Code: smtp; 550 5.1.1 <reader@example.com>: Recipient address rejected: User unknown\n"

func TestParseVERP(t *testing.T) {
	tests := []struct {
		name, to, returnPath, want string
	}{
		{"addressed to the VERP address", "bounces+AbC_123-x@bounces.example.org", "bounces+AbC_123-x@bounces.example.org", "AbC_123-x"},
		{"only the returned Return-Path carries it", "postmaster@news.example.org", "bounces+AbC_123-x@bounces.example.org", "AbC_123-x"},
		{"no subaddress", "bounces@bounces.example.org", "bounces@bounces.example.org", ""},
		{"token with characters no URL-safe token has", "postmaster@news.example.org", `"bounces+a/b"@bounces.example.org`, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reports, err := parse(strings.NewReader(dsn(tc.to, tc.returnPath, failedBlock)))
			if err != nil || len(reports) != 1 {
				t.Fatalf("got %d reports, err %v; want 1", len(reports), err)
			}
			r := reports[0]
			if r.VERPToken != tc.want {
				t.Errorf("VERPToken %q, want %q", r.VERPToken, tc.want)
			}
			if r.Kind != Hard || r.Recipient != "reader@example.com" || r.Status != "5.1.1" ||
				r.OriginalMessageID != "<digest.20261126.a90d40f8b973302eb7722426@news.example.org>" ||
				r.ReportingMTA != "mx.example.net" || r.Arrival.Format("15:04:05") != "07:00:01" {
				t.Errorf("report %+v", r)
			}
		})
	}
}

func TestParseDSNActions(t *testing.T) {
	tests := []struct {
		name      string
		block     string
		want      []want
		notBounce bool
	}{
		{
			name:  "delayed is soft",
			block: "Final-Recipient: rfc822; reader@example.com\nAction: delayed\nStatus: 4.4.7\n",
			want:  []want{{Soft, "reader@example.com", "4.4.7", ""}},
		},
		{
			name:  "failed with a 4.x.x status is soft",
			block: "Final-Recipient: rfc822; reader@example.com\nAction: failed\nStatus: 4.2.2\nDiagnostic-Code: smtp; 452 4.2.2 Over quota\n",
			want:  []want{{Soft, "reader@example.com", "4.2.2", ""}},
		},
		{
			name:  "mailbox full under a 5.x.x is soft",
			block: "Final-Recipient: rfc822; reader@example.com\nAction: failed\nStatus: 5.0.0\nDiagnostic-Code: smtp; 552 Mailbox is full\n",
			want:  []want{{Soft, "reader@example.com", "5.0.0", ""}},
		},
		{
			name: "several recipients, delivered ones skipped",
			block: "Final-Recipient: rfc822; a@example.com\nAction: delivered\nStatus: 2.0.0\n\n" +
				"Original-Recipient: rfc822; b@example.com\nFinal-Recipient: rfc822; b-alias@example.net\nAction: failed\nStatus: 5.2.1\n\n" +
				"Final-Recipient: rfc822; c@example.com\nAction: failed\nStatus: 5.0.0\nDiagnostic-Code: smtp; 550 5.1.1 no such user\n",
			want: []want{{Hard, "b@example.com", "5.2.1", ""}, {Hard, "c@example.com", "5.1.1", ""}},
		},
		{
			name:  "blocks without blank lines between them",
			block: "Final-Recipient: rfc822; a@example.com\nAction: failed\nStatus: 5.1.1\nFinal-Recipient: rfc822; b@example.com\nAction: delayed\nStatus: 4.4.1\n",
			want:  []want{{Hard, "a@example.com", "5.1.1", ""}, {Soft, "b@example.com", "4.4.1", ""}},
		},
		{
			name:      "all delivered is not a bounce",
			block:     "Final-Recipient: rfc822; a@example.com\nAction: delivered\nStatus: 2.0.0\n",
			notBounce: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reports, err := parse(strings.NewReader(dsn("bounces@news.example.org", "bounces@news.example.org", tc.block)))
			if tc.notBounce {
				if !errors.Is(err, ErrNotABounce) {
					t.Fatalf("got %+v, %v; want ErrNotABounce", reports, err)
				}
				return
			}
			if err != nil || len(reports) != len(tc.want) {
				t.Fatalf("got %+v, err %v; want %d reports", reports, err, len(tc.want))
			}
			for i, w := range tc.want {
				r := reports[i]
				if r.Kind != w.kind || r.Recipient != w.recipient || r.Status != w.status {
					t.Errorf("report %d = {%s %q %q}, want {%s %q %q}", i, r.Kind, r.Recipient, r.Status, w.kind, w.recipient, w.status)
				}
			}
		})
	}
}

func TestParseRefusals(t *testing.T) {
	tests := []struct {
		name      string
		input     string
		notBounce bool
		tooLarge  bool
	}{
		{name: "empty", input: ""},
		{name: "no header", input: "just some words\nand more\n"},
		{name: "binary", input: "\x00\x01\x02\x03"},
		{name: "too large", input: "Subject: x\n\n" + strings.Repeat("a", MaxMessageSize), tooLarge: true},
		{name: "ordinary mail", input: "From: a@example.com\nTo: b@example.com\nSubject: hello\n\nhi\n", notBounce: true},
		{name: "vacation", input: "From: a@example.com\nSubject: Out of office\nAuto-Submitted: auto-replied\n\naway\n", notBounce: true},
		{name: "postmaster notice", input: "From: postmaster@example.com\nSubject: Your mailbox is almost full\n\nPlease delete some mail.\n", notBounce: true},
		{name: "person writing about bounces", input: "From: a@example.com\nSubject: Re: undeliverable mail\n\nb@example.com: 550 user unknown?\n", notBounce: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reports, err := parse(strings.NewReader(tc.input))
			switch {
			case err == nil:
				t.Fatalf("got %+v, want an error", reports)
			case tc.notBounce != errors.Is(err, ErrNotABounce):
				t.Fatalf("err %v: ErrNotABounce is %v, want %v", err, errors.Is(err, ErrNotABounce), tc.notBounce)
			case tc.tooLarge != errors.Is(err, ErrTooLarge):
				t.Fatalf("err %v: ErrTooLarge is %v, want %v", err, errors.Is(err, ErrTooLarge), tc.tooLarge)
			}
		})
	}
}

// TestParsePathological checks the bounds: deep nesting and many parts are
// read in bounded work and still give the bounce they carry.
func TestParsePathological(t *testing.T) {
	var nested strings.Builder
	nested.WriteString("From: MAILER-DAEMON@mx.example.net\nSubject: failure notice\n")
	for i := 0; i < 5000; i++ {
		fmt.Fprintf(&nested, "Content-Type: multipart/mixed; boundary=\"b%d\"\n\n--b%d\n", i, i)
	}
	nested.WriteString("\n<reader@example.com>:\n550 5.1.1 no such user\n")

	var many strings.Builder
	many.WriteString("From: MAILER-DAEMON@mx.example.net\nSubject: failure notice\nContent-Type: multipart/mixed; boundary=\"b\"\n\n")
	for i := 0; i < 100000; i++ {
		many.WriteString("--b\n\n<reader@example.com>:\n550 5.1.1 no such user\n")
	}

	// One header field folded over millions of lines.
	folded := "From: MAILER-DAEMON@mx.example.net\nSubject: failure notice\nX-Long: a\n" +
		strings.Repeat("\tb\n", 3<<20) + "\n<reader@example.com>:\n550 5.1.1 no such user\n"

	for name, input := range map[string]string{"nested": nested.String(), "many parts": many.String(), "folded header": folded} {
		t.Run(name, func(t *testing.T) {
			reports, err := parse(strings.NewReader(input))
			if err != nil || len(reports) != 1 || reports[0].Kind != Hard || reports[0].Recipient != "reader@example.com" {
				t.Fatalf("got %+v, %v; want one hard bounce for reader@example.com", reports, err)
			}
		})
	}
}

func TestStatusCodes(t *testing.T) {
	tests := []struct {
		in            string
		enhanced      []string
		reply         []string
		diagFromCode  string
		diagFromFound bool
	}{
		{"host [192.0.2.4] said: 550 5.1.1 <a@b.example>: no", []string{"5.1.1"}, []string{"550"}, "550 5.1.1 <a@b.example>: no", true},
		{"relay 10.4.5.5 and 192.0.2.45 then Exim 4.72 (8.14.4/8.14.4)", nil, nil, "", false},
		{"Remote Server returned '550 5.1.10 RESOLVER.ADR.RecipientNotFound'", []string{"5.1.10"}, []string{"550"}, "550 5.1.10 RESOLVER.ADR.RecipientNotFound", true},
		{"Unable to contact LDAP server. (#4.4.3)", []string{"4.4.3"}, nil, "Unable to contact LDAP server. (#4.4.3)", true},
		{"ERROR_CODE :421, ERROR_CODE :, Host", nil, []string{"421"}, "421, ERROR_CODE :, Host", true},
		{"450-4.2.2 The user's mailbox is full; 5.7.606", []string{"4.2.2", "5.7.606"}, []string{"450"}, "450-4.2.2 The user's mailbox is full; 5.7.606", true},
		{"mx.example.org:465 id 15.20.696.11 at 05:52:53 in 2025", nil, nil, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			var enh, rep []string
			for _, c := range enhancedCodes(tc.in) {
				enh = append(enh, c.code)
			}
			for _, c := range replyCodes(tc.in) {
				rep = append(rep, c.code)
			}
			if fmt.Sprint(enh) != fmt.Sprint(tc.enhanced) || fmt.Sprint(rep) != fmt.Sprint(tc.reply) {
				t.Errorf("enhanced %v reply %v, want %v %v", enh, rep, tc.enhanced, tc.reply)
			}
			if d, ok := fromCode(tc.in); ok != tc.diagFromFound || ok && d != tc.diagFromCode {
				t.Errorf("fromCode = %q, %v; want %q, %v", d, ok, tc.diagFromCode, tc.diagFromFound)
			}
		})
	}
}

// FuzzParse feeds parse mutated bounces. It must not panic, must finish
// (the fuzzer's per-input timeout catches runaway work), and must keep the
// Report contract.
func FuzzParse(f *testing.F) {
	files, err := filepath.Glob("testdata/fixtures/*.eml")
	if err != nil {
		f.Fatal(err)
	}
	for _, path := range files {
		b, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(dsn("bounces+AbC_123-x@bounces.example.org", "bounces@x.example", failedBlock)))
	f.Add([]byte("Content-Type: multipart/report; boundary=x\n\n--x\nContent-Type: message/rfc822\n\n--x--\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		reports, err := parse(bytes.NewReader(data))
		if err != nil && reports != nil {
			t.Fatalf("reports %+v with error %v", reports, err)
		}
		if len(reports) > maxReports {
			t.Fatalf("%d reports", len(reports))
		}
		for _, r := range reports {
			if strings.ContainsAny(r.Diagnostic, "\r\n") || utf8.RuneCountInString(r.Diagnostic) > maxDiagnostic {
				t.Fatalf("Diagnostic %q", r.Diagnostic)
			}
			if r.Kind != Hard && r.Kind != Soft && r.Kind != Complaint {
				t.Fatalf("Kind %q", r.Kind)
			}
			if r.Recipient != "" && normalizeAddr(r.Recipient) != r.Recipient {
				t.Fatalf("Recipient %q is not a normalized address", r.Recipient)
			}
			if r.OriginalMessageID != "" && (!strings.HasPrefix(r.OriginalMessageID, "<") || !strings.HasSuffix(r.OriginalMessageID, ">")) {
				t.Fatalf("OriginalMessageID %q", r.OriginalMessageID)
			}
		}
	})
}
