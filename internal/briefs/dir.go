package briefs

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"

	digest "github.com/newsroom/digest"
)

// File is one parsed brief file.
type File struct {
	Path  string
	Brief digest.Brief
}

// ParseDir parses every brief file under dir: each *.md file, recursively,
// in sorted path order, skipping files and directories whose names start
// with "." (editor swap files, .git). Every file is parsed, so the error
// lists every problem at once: each file's field errors (see Parse), and a
// slug used by two files, naming both. Files come back only when there is
// no error at all, since a half-valid directory is not worth importing.
func ParseDir(ctx context.Context, dir string, regions digest.Regions) ([]File, error) {
	paths, err := findBriefFiles(dir)
	if err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("%s: no brief files (*.md) in it or below it", dir)
	}
	return ParseFiles(ctx, paths, regions)
}

// ParseFiles parses the brief files at paths, in order. Every file is
// parsed, so the error lists every problem at once: each file's field
// errors (see Parse), and a slug used by two files, naming both. Files
// come back only when there is no error at all.
func ParseFiles(ctx context.Context, paths []string, regions digest.Regions) ([]File, error) {
	var (
		files []File
		errs  []error
		seen  = map[string]string{} // slug -> first file
	)
	for _, p := range paths {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		b, err := parseFile(p, regions)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if first, dup := seen[b.Slug]; dup {
			errs = append(errs, digest.Invalid(p, "slug", "%q is also the slug of %s", b.Slug, first))
			continue
		}
		seen[b.Slug] = p
		files = append(files, File{Path: p, Brief: b})
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return files, nil
}

// findBriefFiles lists the *.md files under dir, sorted.
func findBriefFiles(dir string) ([]string, error) {
	var paths []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		hidden := p != dir && strings.HasPrefix(d.Name(), ".")
		switch {
		case d.IsDir() && hidden:
			return filepath.SkipDir
		case d.IsDir(), hidden:
			return nil
		case strings.EqualFold(filepath.Ext(p), ".md") && d.Type()&fs.ModeType&^fs.ModeSymlink == 0:
			paths = append(paths, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read brief directory: %w", err)
	}
	sort.Strings(paths)
	return paths, nil
}
