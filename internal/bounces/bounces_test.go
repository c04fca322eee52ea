package bounces

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// want is one expected report: kind, recipient, status, original Message-ID.
type want struct {
	kind      Kind
	recipient string
	status    string
	messageID string
}

// fixtureWants is the truth for every file in testdata/fixtures, decided by
// reading each one. Notes mark the judgement calls.
var fixtureWants = []struct {
	file      string
	notBounce bool // parse must return ErrNotABounce
	want      []want
}{
	{file: "arf-01.eml", want: []want{
		{Complaint, "redacted@example.net", "", ""},
	}},
	// The reported message is addressed to "<Undisclosed Recipients>": nobody is named.
	{file: "arf-11.eml", want: []want{
		{Complaint, "", "", "<ffffffffffffffffffffffffff0000000000@example.net>"},
	}},
	// ARF Original-Rcpt-To (the envelope) wins over the enclosed To (kijitora@yahoo.com).
	{file: "arf-14.eml", want: []want{
		{Complaint, "kijitora@y.example.com", "", "<2222222222222222-00000000-eeee-eeee-ffff-222222222222-111111@email.amazonses.com>"},
	}},
	{file: "arf-16.eml", want: []want{
		{Complaint, "kijitora@example.com", "", "<ffffffffffffffffffffffff0000000@example.jp>"},
		{Complaint, "sironeko@example.com", "", "<ffffffffffffffffffffffff0000000@example.jp>"},
		{Complaint, "mikeneko@example.com", "", "<ffffffffffffffffffffffff0000000@example.jp>"},
		{Complaint, "sabatora@example.com", "", "<ffffffffffffffffffffffff0000000@example.jp>"},
		{Complaint, "sirokiji@example.org", "", "<ffffffffffffffffffffffff0000000@example.jp>"},
		{Complaint, "kuroneko@example.com", "", "<ffffffffffffffffffffffff0000000@example.jp>"},
		{Complaint, "sabineko@example.com", "", "<ffffffffffffffffffffffff0000000@example.jp>"},
	}},
	// DMARC authentication-failure reports (RFC 6591) are not complaints by the reader.
	{file: "arf-18.eml", notBounce: true},
	{file: "arf-20.eml", notBounce: true},
	// Microsoft JMRP: no ARF part; X-HmXmrOriginalRecipient names the reader.
	{file: "arf-22.eml", want: []want{
		{Complaint, "kijitora@example.com", "", "<0000000000fffffffff0000000000000@example.com>"},
	}},
	{file: "arf-24.eml", want: []want{
		{Complaint, "kijitora@example.com", "", "<0000000000fffffffff0000000000000@example.com>"},
	}},
	// Apple Mail unsubscribe request sent as an auto-reply: not a complaint (see report).
	{file: "arf-26.eml", notBounce: true},
	{file: "is-not-bounce-01.eml", notBounce: true},
	{file: "is-not-bounce-02.eml", notBounce: true},
	// Status 5.0.0 refined from the quoted "550-'5.7.1 ... Access denied'".
	{file: "lhost-amazonses-01.eml", want: []want{
		{Hard, "shironeko@example.co.jp", "5.7.1", "<000001321defbd2a-788e31c8-2be1-422f-a8d4-cf7765cc9ed7-000000@email.amazonses.com>"},
	}},
	// 5.0.0 refined to the quoted 5.2.2 "Mailbox Full": soft.
	{file: "lhost-amazonses-03.eml", want: []want{
		{Soft, "kijitora@example.jp", "5.2.2", "<00000132d6ca0cd4-ff6d8ee5-29a0-4501-a68a-3ff8695254bb-000000@email.amazonses.com>"},
	}},
	{file: "lhost-amazonses-06.eml", want: []want{
		{Hard, "bounce@simulator.amazonses.com", "5.1.1", "<01010157b7234f87-8e1ec8d8-62e9-4e6e-aec7-cdec60e58f48-000000@us-west-2.amazonses.com>"},
	}},
	{file: "lhost-amazonses-08.eml", want: []want{
		{Hard, "e@neko.nyaan.example.org", "5.7.9", "<01010157b3d66b47-d620f4e1-14ae-4cad-8005-3fcf2ce695c9-000000@us-west-2.amazonses.com>"},
	}},
	{file: "lhost-courier-01.eml", want: []want{
		{Hard, "kijitora@example.co.jp", "5.1.1", ""},
	}},
	{file: "lhost-courier-03.eml", want: []want{
		{Hard, "kijitora@example.jp", "5.7.1", "<201012100421.oBA4LJFU042012@1jo.example.org>"},
	}},
	{file: "lhost-exchange2007-01.eml", want: []want{
		{Hard, "mikeneko@example.co.jp", "5.1.1", ""},
	}},
	// 5.2.3 message too large for the recipient: this message, not the address (soft).
	{file: "lhost-exchange2007-03.eml", want: []want{
		{Soft, "kijitora@neko.example.com", "5.2.3", "<20100429233445.FF00FFEE0000@r2.example.org>"},
	}},
	// Action failed with a 4.4.7 (queue expired): soft, as the brief says.
	{file: "lhost-exchange2007-05.eml", want: []want{
		{Soft, "gwang1@student.mlcsyd.nsw.edu.au", "4.4.7", "<1472759554.gm4daljtga4dmljrgy2donjsha@newsletter.supersurprises-au.com>"},
	}},
	{file: "lhost-exchange2007-07.eml", want: []want{
		{Hard, "kijitora@example.jp", "5.1.1", "<QCw92c-juIk7Y-w6@neko.example.com>"},
	}},
	{file: "lhost-exim-01.eml", want: []want{
		{Hard, "kijitora@example.ed.jp", "5.7.0", "<E1P1ce6-000Egt-GZ@e1.example.org>"},
	}},
	// X-Failed-Recipients says kijitora@example.jp; the MTA's text and the returned To say example.or.jp.
	{file: "lhost-exim-03.eml", want: []want{
		{Hard, "kijitora@example.or.jp", "5.7.0", "<hogeuoiuadogalhg.dg9i09@example.jp>"},
	}},
	{file: "lhost-exim-05.eml", want: []want{
		{Hard, "kijitora@neko.example.co.jp", "5.1.1", "<19990429233445.000000@mx4.example.org>"},
	}},
	// The text names no address ("save to xxxx"); X-Failed-Recipients does.
	{file: "lhost-exim-07.eml", want: []want{
		{Soft, "shiba@example.com", "", ""},
	}},
	{file: "lhost-gmail-01.eml", want: []want{
		{Hard, "userunknown@example.jp", "5.1.1", "<D992C2C3-F175-4C4D-97E2-53A90E4E5BF5@gmail.com>"},
	}},
	{file: "lhost-gmail-04.eml", want: []want{
		{Hard, "kijitora@example.com", "5.7.1", "<CAJYcEwW7ghrwjbwmwK3GKRG98qSVTKhGBvnkbVH1RdwFJwHWFQ@mail.gmail.com>"},
	}},
	{file: "lhost-gmail-06.eml", want: []want{
		{Soft, "kijitora@example.jp", "4.2.2", "<A4D6026C-0699-460F-9F86-C2A5CB4BE6CE@gmail.com>"},
	}},
	{file: "lhost-gmail-08.eml", want: []want{
		{Soft, "kijitora@example.com", "", "<AA6C0062-22D4-4D7E-8766-4494D07205C1@gmail.example.com>"},
	}},
	// multipart/report without its delivery-status part: read from the text.
	{file: "lhost-office365-01.eml", want: []want{
		{Hard, "kijitora@example.com", "5.1.10", "<FFFFFFFF.EEEEEEEE@example.ed.jp>"},
	}},
	{file: "lhost-office365-03.eml", want: []want{
		{Hard, "kijitora@example.com", "5.1.0", "<000000000000.2222.22222222222200000000@NEKO-NYAAN>"},
	}},
	{file: "lhost-office365-05.eml", want: []want{
		{Hard, "kijitora@example.jp", "5.1.8", "<SLXP216MB0381016D56DE89DBC2139287A96B0@SLXP216MB0381.KORP216.PROD.OUTLOOK.COM>"},
	}},
	{file: "lhost-office365-07.eml", want: []want{
		{Hard, "otsu-sakaba-hunter-neko-nyaaaaaaan@ezweb.ne.jp", "5.1.351", "<SLXP216MB0381E73A6665E8145952FF0CA9940@SLXP216MB0381.KORP216.PROD.OUTLOOK.COM>"},
	}},
	{file: "lhost-opensmtpd-01.eml", want: []want{
		{Hard, "apdugoaidugoaidugoaeiudggadi@gmail.com", "5.1.1", ""},
	}},
	{file: "lhost-opensmtpd-03.eml", want: []want{
		{Hard, "kijitora@neko.example.jp", "", ""},
	}},
	// "Envelope expired": retries ran out on a temporary failure (soft).
	{file: "lhost-opensmtpd-05.eml", want: []want{
		{Soft, "kijitora@mail.example.co.jp", "", ""},
	}},
	{file: "lhost-opensmtpd-10.eml", want: []want{
		{Hard, "postmaster@cx.libsisimai.org", "5.0.0", "<74f4e3b183602776@df.example.jp>"},
	}},
	{file: "lhost-outlook-01.eml", want: []want{
		{Soft, "kijitora@example.jp", "5.2.2", "<BLU436-SMTP6645ECA6E7FEFFE86D040BBA770@phx.gbl>"},
	}},
	{file: "lhost-outlook-03.eml", want: []want{
		{Hard, "kijitora@example.jp", "5.5.0", "<BLU436-SMTP665C5ECBE0D0D7D4C869BEBA770@phx.gbl>"},
	}},
	{file: "lhost-outlook-06.eml", want: []want{
		{Soft, "kijitora@example.com", "4.4.7", "<BAY182-W4180385B0DABF89EB94B34A9300@phx.gbl>"},
	}},
	{file: "lhost-outlook-08.eml", want: []want{
		{Hard, "kijitora@hotmail.example.com", "5.5.0", "<000000222220000000000000fffffff@example.co.jp>"},
	}},
	// Original-Recipient (what was sent) wins over the alias Final-Recipient r@p351355...
	{file: "lhost-postfix-01.eml", want: []want{
		{Hard, "kijitora@example.org", "5.1.1", ""},
	}},
	{file: "lhost-postfix-03.eml", want: []want{
		{Hard, "kijitora@example.net", "5.0.0", "<20140701000000.000000000000@e1.example.ne.jp>"},
	}},
	{file: "lhost-postfix-05.eml", want: []want{
		{Soft, "kijitora@example.org", "4.1.1", "<FFFFFFFF.0000000@example.co.jp>"},
	}},
	{file: "lhost-postfix-07.eml", want: []want{
		{Hard, "kijitora@user.example.or.jp", "", "<8EF96F3F-377B-4E4D-9F3C-54EE1924B2BA@mirror.example.ne.jp>"},
	}},
	{file: "lhost-powermta-01.eml", want: []want{
		{Hard, "kijitora@example.jp", "5.2.1", "<68b329da9893e34099c7d8ad59d65e762ff.20110917110726@mail22.neko.example.net>"},
	}},
	{file: "lhost-powermta-03.eml", want: []want{
		{Hard, "kijitora@libsisimai.org", "5.2.1", "<df97007ab80e066354480c22f9d65e762ff.20120917110726@mx2.neko.example.com>"},
	}},
	{file: "lhost-qmail-01.eml", want: []want{
		{Hard, "kijitora@example.ne.jp", "5.5.0", "<000000000.9999999999999.JavaMail.postmaster@mailhub>"},
	}},
	{file: "lhost-qmail-03.eml", want: []want{
		{Hard, "kijitora@example.org", "5.7.1", "<00000000000000.5529.qmail@nijo.example.jp>"},
	}},
	{file: "lhost-qmail-05.eml", want: []want{
		{Soft, "kijitora@example.net", "4.4.3", "<00000000.000000000@example.jp>"},
	}},
	{file: "lhost-qmail-07.eml", want: []want{
		{Soft, "kijitora@example.jp", "4.4.1", ""},
	}},
	{file: "lhost-sendgrid-01.eml", want: []want{
		{Hard, "kijitora@example.jp", "5.1.1", "<F9B4AEED-722D-47FD-929E-3625AF2161BB@example.jp>"},
	}},
	{file: "lhost-sendgrid-03.eml", want: []want{
		{Soft, "kijitora@example.org", "", "<1373048289.4959893235684211@mf36.sendgrid.net>"},
	}},
	{file: "lhost-sendmail-01.eml", want: []want{
		{Hard, "userunknown@bouncehammer.jp", "5.1.1", "<E1C50F1B-1C83-4820-BC36-AC6FBFBE8568@example.org>"},
	}},
	{file: "lhost-sendmail-03.eml", want: []want{
		{Hard, "bounce0@example.org", "5.1.1", "<2459BC68-A7A5-4FCD-99FE-8CE9335880BF@example.co.jp>"},
	}},
	// 552 5.2.3 message size: soft, like exchange2007-03.
	{file: "lhost-sendmail-05.eml", want: []want{
		{Soft, "kijitora@example.org", "5.2.3", "<000000B2-9997-8888-8999-000000000356@example.co.jp>"},
	}},
	{file: "lhost-sendmail-07.eml", want: []want{
		{Hard, "kijitora@example.org", "5.7.1", "<FB1BB909-76BD-490F-8A86-98F3B89D92BF@example.ne.jp>"},
	}},
	{file: "lhost-yahoo-01.eml", want: []want{
		{Hard, "kijitora@example.org", "5.1.1", "<6AE6249A-E7A8-4980-862C-F499F6B8E7C5@y.example.co.jp>"},
	}},
	{file: "lhost-yahoo-03.eml", want: []want{
		{Hard, "kijitora@example.jp", "5.1.1", "<4480863.3669135.1417873350756.JavaMail.yahoo@jws10091.mail.ne1.yahoo.com>"},
	}},
	{file: "lhost-yahoo-05.eml", want: []want{
		{Hard, "kijitora@example.co.jp", "5.2.1", "<92177194.3672721.1417873381074.JavaMail.yahoo@jws100157.mail.ne1.yahoo.com>"},
	}},
	{file: "lhost-yahoo-07.eml", want: []want{
		{Hard, "otsu-sakaba-hunter-neko-nyaaaaaaan@ezweb.ne.jp", "", "<D36444F0-C76F-43F3-9E73-85D657DE6176@yahoo.com>"},
	}},
	{file: "lhost-zoho-01.eml", want: []want{
		{Hard, "kijitora@example.co.jp", "5.1.1", "<14a3e1b4b5a.10b1a4c5610175.8588386083425091336@zoho.example.com>"},
	}},
	{file: "lhost-zoho-03.eml", want: []want{
		{Hard, "shironeko@example.org", "", "<14a3e1e110a.b4fa4ce310535.5193856207448782548@zoho.example.com>"},
	}},
	{file: "lhost-zoho-05.eml", want: []want{
		{Soft, "kijitora@7jo.example.jp", "", "<14a3e1f7f3c.110ef7cb910716.7530578479836940184@zoho.example.com>"},
	}},
	// A free-text "reject reason: Mailbox full" bounce from a postmaster: soft (see report).
	{file: "rb-issue-368-bug.eml", want: []want{
		{Soft, "xxxx@yyyyyy.net", "", "<68e0b7e3615cd_1dc7010592ed@7cf4d87f87-9r5w2.mail>"},
	}},
	{file: "rfc3464-01.eml", want: []want{
		{Hard, "userunknown@bouncehammer.jp", "5.1.1", "<E1C50F1B-1C83-4820-BC36-AC6FBFBE8568@example.org>"},
	}},
	// Declared multipart/report with no boundaries: the DSN fields are read from the text.
	{file: "rfc3464-04.eml", want: []want{
		{Hard, "kijitora@mailx-53.neko.example.edu", "5.5.0", "<00000000000.000000@mx4.example.co.jp>"},
	}},
	{file: "rfc3464-07.eml", want: []want{
		{Soft, "kijitora@example.net", "4.4.0", "<000000000000000@list.example.jp>"},
	}},
	{file: "rfc3464-09.eml", want: []want{
		{Soft, "kijitora-nyaaaaaan@example.co.jp", "4.3.0", "<00000000000000000000000000000000000000000@example.org>"},
	}},
	{file: "rfc3834-01.eml", notBounce: true},
	{file: "rfc3834-03.eml", notBounce: true},
	{file: "rfc3834-05.eml", notBounce: true},
	// The headers part sits behind a misdeclared boundary; the Message-ID is still found.
	{file: "rhost-google-01.eml", want: []want{
		{Hard, "shironeko@example.ne.jp", "5.2.1", "<201305110000000000000.r4B003v000000@mail4.example.co.jp>"},
	}},
	// Original-Recipient neko@example.co.jp was forwarded to the Final-Recipient.
	{file: "rhost-google-03.eml", want: []want{
		{Hard, "neko@example.co.jp", "5.7.26", "<vDcsF1hr4zzywp69@mail4.example.com>"},
	}},
	{file: "rhost-google-05.eml", want: []want{
		{Soft, "kijitora@google.example.com", "5.2.2", "<qbddfL3NB0z0D2Ld@smtp-gw1.example.jp>"},
	}},
	{file: "rhost-google-07.eml", want: []want{
		{Hard, "kijitora-cat@google.example.com", "5.2.1", "<4TQbcJ4XtCzhbY75@smtps.example.jp>"},
	}},
	{file: "rhost-microsoft-01.eml", want: []want{
		{Hard, "kijitora@example.com", "5.7.606", "<00000000000000000000000000000000000000000000000@example.net>"},
	}},
	{file: "rhost-microsoft-03.eml", want: []want{
		{Hard, "kijitora@example.com", "5.1.10", "<2222222222220000-00000000-2222-2222-2222-000000002222-000000@email.amazonses.com>"},
	}},
	// Action failed with a 4.7.650 (rate limited): soft.
	{file: "rhost-microsoft-05.eml", want: []want{
		{Soft, "pseudo-local-part-of-microsoft@outlook.com", "4.7.650", "<WpZGzDpcy1zw5NGv@relay0.example.jp>"},
	}},
	{file: "rhost-outlook-01.eml", want: []want{
		{Soft, "kijitora@example.jp", "5.2.2", "<BLU436-SMTP6645ECA6E7FEFFE86D040BBA770@phx.gbl>"},
	}},
	{file: "rhost-outlook-03.eml", want: []want{
		{Hard, "kijitora@example.jp", "5.5.0", "<BLU436-SMTP665C5ECBE0D0D7D4C869BEBA770@phx.gbl>"},
	}},
	{file: "rhost-outlook-06.eml", want: []want{
		{Soft, "kijitora@example.com", "4.4.7", "<BAY182-W4180385B0DABF89EB94B34A9300@phx.gbl>"},
	}},
	{file: "rhost-outlook-08.eml", want: []want{
		{Hard, "kijitora@hotmail.example.com", "5.5.0", "<000000222220000000000000fffffff@example.co.jp>"},
	}},
}

// TestParseFixtures parses every fixture and compares the outcome a reader of
// `digest bounces ingest` would see: kind, recipient, status, Message-ID.
func TestParseFixtures(t *testing.T) {
	files, err := filepath.Glob("testdata/fixtures/*.eml")
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, f := range fixtureWants {
		listed[f.file] = true
	}
	for _, f := range files {
		if !listed[filepath.Base(f)] {
			t.Errorf("fixture %s has no row in fixtureWants", filepath.Base(f))
		}
	}

	passed := 0
	for _, tc := range fixtureWants {
		ok := t.Run(tc.file, func(t *testing.T) {
			reports, err := parseFile(t, filepath.Join("testdata/fixtures", tc.file))
			if tc.notBounce {
				if !errors.Is(err, ErrNotABounce) {
					t.Fatalf("got %d reports, err %v; want ErrNotABounce", len(reports), err)
				}
				return
			}
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if len(reports) != len(tc.want) {
				t.Fatalf("got %d reports %+v, want %d", len(reports), reports, len(tc.want))
			}
			for i, w := range tc.want {
				r := reports[i]
				if r.Kind != w.kind || r.Recipient != w.recipient || r.Status != w.status || r.OriginalMessageID != w.messageID {
					t.Errorf("report %d = {%s %q %q %q}, want {%s %q %q %q}", i,
						r.Kind, r.Recipient, r.Status, r.OriginalMessageID, w.kind, w.recipient, w.status, w.messageID)
				}
				checkDiagnostic(t, r.Diagnostic)
			}
		})
		if ok {
			passed++
		}
	}
	t.Logf("%d/%d fixtures parsed to the expected outcome", passed, len(fixtureWants))
}

func parseFile(t *testing.T, path string) ([]Report, error) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return parse(f)
}

// checkDiagnostic asserts the Diagnostic contract: one trimmed line of at
// most 500 characters of valid UTF-8.
func checkDiagnostic(t *testing.T, d string) {
	t.Helper()
	if strings.ContainsAny(d, "\r\n") || strings.TrimSpace(d) != d || utf8.RuneCountInString(d) > maxDiagnostic || !utf8.ValidString(d) {
		t.Errorf("Diagnostic %q is not one trimmed line of at most %d characters", d, maxDiagnostic)
	}
}

// TestParseFixtureDetails checks the fields the table leaves out, on
// fixtures that carry them.
func TestParseFixtureDetails(t *testing.T) {
	tests := []struct {
		file         string
		diagnostic   string
		reportingMTA string
		verp         string
		arrival      string // RFC 3339, "" for zero
	}{
		{"lhost-postfix-05.eml", "450 4.1.1 <kijitora@example.org>: Recipient address rejected: User unknown in virtual alias table", "v1.example.com", "", "2012-02-17T23:45:46+08:00"},
		{"lhost-exim-01.eml", "550 5.7.0 <shironeko@example.jp>... Please use the smtp server of your ISP.", "", "", "2010-10-01T19:15:23+09:00"},
		{"lhost-qmail-05.eml", "Unable to contact LDAP server. (#4.4.3)I'm not going to try again; this message has been in the queue too long.", "", "", "2010-04-29T00:00:00Z"},
		{"lhost-office365-01.eml", "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup", "", "", "2015-04-29T23:34:45Z"},
		{"lhost-opensmtpd-10.eml", "Domain does not exist", "df.example.jp", "", "2024-06-17T05:01:58Z"},
		{"lhost-exchange2007-03.eml", "550 5.2.3 RESOLVER.RST.RecipSizeLimit; message too large for this recipient", "neko.example.com", "0000ffee-0020-22ef-ff00-00220000ffee", "2010-04-29T23:34:45Z"},
		// bounce+xxxx=yyyyyy.net@…: classic user=domain VERP, not a token
		// internal/verp makes (no "." or "=" in one), so none is reported.
		{"rb-issue-368-bug.eml", "Mailbox full", "", "", "2025-10-04T08:00:07+02:00"},
		{"arf-14.eml", "abuse", "", "", "2017-04-29T23:34:45Z"},
		{"rhost-outlook-01.eml", "550 5.2.2 <kijitora@example.jp>... Mailbox Full", "BLU004-OMC3S13.hotmail.com", "", "2014-11-21T14:17:34-08:00"},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			reports, err := parseFile(t, filepath.Join("testdata/fixtures", tc.file))
			if err != nil || len(reports) != 1 {
				t.Fatalf("got %d reports, err %v; want 1", len(reports), err)
			}
			r := reports[0]
			arrival := ""
			if !r.Arrival.IsZero() {
				arrival = r.Arrival.Format("2006-01-02T15:04:05Z07:00")
			}
			if r.Diagnostic != tc.diagnostic || r.ReportingMTA != tc.reportingMTA || r.VERPToken != tc.verp || arrival != tc.arrival {
				t.Errorf("got diagnostic %q, reporting MTA %q, VERP %q, arrival %q\nwant diagnostic %q, reporting MTA %q, VERP %q, arrival %q",
					r.Diagnostic, r.ReportingMTA, r.VERPToken, arrival, tc.diagnostic, tc.reportingMTA, tc.verp, tc.arrival)
			}
		})
	}
}
