package briefs

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeTree writes files (path relative to a new temp dir -> content) and
// returns the dir.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func withSlug(slug string) string {
	return strings.Replace(validBrief, "slug: moscow-weighs-washington", "slug: "+slug, 1)
}

func TestParseDir(t *testing.T) {
	tests := []struct {
		name      string
		files     map[string]string
		wantPaths []string // relative, in order
		wantErrs  []string // substrings of the error, each
	}{{
		name: "nested, sorted, hidden and other files skipped",
		files: map[string]string{
			"b.md":               withSlug("b"),
			"2026/11/a.md":       withSlug("a"),
			"2026/z.MD":          withSlug("z"),
			".draft.md":          "not a brief",
			".git/x.md":          "not a brief",
			"2026/.hidden/y.md":  "not a brief",
			"notes.txt":          "not a brief",
			"2026/11/README.md~": "not a brief",
		},
		wantPaths: []string{"2026/11/a.md", "2026/z.MD", "b.md"},
	}, {
		name: "every invalid file is reported with its line and field",
		files: map[string]string{
			"a.md":     withSlug("a"),
			"bad/1.md": strings.Replace(withSlug("one"), "region: dc", "region: atlantis", 1),
			"bad/2.md": strings.Replace(withSlug("two"), "author: Jane Doe\n", "", 1),
		},
		wantErrs: []string{"bad/1.md:3: region:", "atlantis", "bad/2.md", "author"},
	}, {
		name: "a slug in two files names both",
		files: map[string]string{
			"x/one.md": withSlug("same"),
			"y/two.md": withSlug("same"),
		},
		wantErrs: []string{`y/two.md: slug: "same" is also the slug of`, "x/one.md"},
	}, {
		name:     "no brief files",
		files:    map[string]string{"notes.txt": "x"},
		wantErrs: []string{"no brief files"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeTree(t, tt.files)
			got, err := ParseDir(context.Background(), dir, testRegions)
			if len(tt.wantErrs) > 0 {
				if err == nil {
					t.Fatalf("ParseDir = %d files, want an error", len(got))
				}
				msg := filepath.ToSlash(err.Error())
				for _, w := range tt.wantErrs {
					if !strings.Contains(msg, w) {
						t.Errorf("error lacks %q:\n%s", w, msg)
					}
				}
				if got != nil {
					t.Errorf("ParseDir returned %d files with an error, want none", len(got))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var rel []string
			for _, f := range got {
				r, _ := filepath.Rel(dir, f.Path)
				rel = append(rel, filepath.ToSlash(r))
			}
			if strings.Join(rel, " ") != strings.Join(tt.wantPaths, " ") {
				t.Errorf("files = %v, want %v", rel, tt.wantPaths)
			}
		})
	}
}
