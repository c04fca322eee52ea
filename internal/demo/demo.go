// Package demo holds the sample briefs and subscribers that `digest demo`
// loads, and turns them into domain records through the same parsers and
// validation that real input goes through.
package demo

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"

	"go.yaml.in/yaml/v3"

	digest "github.com/newsroom/digest"
	"github.com/newsroom/digest/internal/briefs"
	"github.com/newsroom/digest/internal/subscribers"
)

//go:embed samples/briefs/*.md samples/subscribers.yaml
var samples embed.FS

// sampleBriefs parses the sample briefs.
func sampleBriefs(regions digest.Regions) ([]digest.Brief, error) {
	names, err := fs.Glob(samples, "samples/briefs/*.md")
	if err != nil {
		return nil, err
	}
	out := make([]digest.Brief, 0, len(names))
	for _, name := range names {
		src, err := samples.ReadFile(name)
		if err != nil {
			return nil, err
		}
		b, err := briefs.Parse(path.Base(name), src, regions)
		if err != nil {
			return nil, fmt.Errorf("sample brief: %w", err)
		}
		out = append(out, b)
	}
	return out, nil
}

// sampleSubscriber is one entry of samples/subscribers.yaml.
type sampleSubscriber struct {
	Email    string   `yaml:"email"`
	Name     string   `yaml:"name"`
	Regions  []string `yaml:"regions"`
	TimeZone string   `yaml:"timezone"`
	SendTime string   `yaml:"send_time"`
}

// sampleSubscribers parses and validates the sample subscribers.
func sampleSubscribers(d subscribers.Defaults) ([]digest.Subscriber, error) {
	src, err := samples.ReadFile("samples/subscribers.yaml")
	if err != nil {
		return nil, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(src))
	dec.KnownFields(true)
	var list []sampleSubscriber
	if err := dec.Decode(&list); err != nil {
		return nil, fmt.Errorf("sample subscribers: %w", err)
	}
	var (
		out  []digest.Subscriber
		errs []error
	)
	for _, s := range list {
		sub, err := subscribers.New(subscribers.Input{
			Email: s.Email, Name: s.Name, Regions: s.Regions, TimeZone: s.TimeZone, SendTime: s.SendTime,
		}, d)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, sub)
	}
	return out, errors.Join(errs...)
}
