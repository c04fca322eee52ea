package subscribers

import digest "github.com/newsroom/digest"

// Changes are the settings an operator changes on a stored subscriber;
// a nil field stays as it is.
type Changes struct {
	Name     *string
	Regions  []string // nil: unchanged
	TimeZone *string
	SendTime *string // "HH:MM"
	Status   *digest.SubscriberStatus
}

// Update returns cur with ch applied, validated as New validates a new
// subscriber; the ID, address, watermark and consent stay cur's. When the
// regions change and cur's time zone was the default one (its first
// region's), the zone follows the new first region, unless ch sets one.
func Update(cur digest.Subscriber, ch Changes, d Defaults) (digest.Subscriber, error) {
	in := Input{Email: cur.Email, Name: cur.Name, Regions: cur.Regions, TimeZone: cur.TimeZone,
		SendTime: cur.SendTime.String(), Status: cur.Status}
	if ch.Name != nil {
		in.Name = *ch.Name
	}
	if ch.Regions != nil {
		in.Regions = ch.Regions
		if ch.TimeZone == nil && cur.TimeZone == firstZone(d.Regions, cur.Regions) {
			in.TimeZone = ""
		}
	}
	if ch.TimeZone != nil {
		in.TimeZone = *ch.TimeZone
	}
	if ch.SendTime != nil {
		in.SendTime = *ch.SendTime
	}
	if ch.Status != nil {
		in.Status = *ch.Status
	}
	next, err := New(in, d)
	if err != nil {
		return digest.Subscriber{}, err
	}
	next.ID, next.Email, next.Watermark, next.Consent = cur.ID, cur.Email, cur.Watermark, cur.Consent
	return next, nil
}

// firstZone is the zone of the first of codes, the default zone of a reader.
func firstZone(rs digest.Regions, codes []string) string {
	if len(codes) == 0 {
		return ""
	}
	r, _ := rs.Lookup(codes[0])
	return r.TimeZone
}
