// Package units formats byte counts for people: one way, used by every
// message and view that shows a size.
package units

import "strconv"

// Size formats n bytes to one decimal in the largest binary unit below
// it: "512 B", "1.2 KiB", "3.0 MiB", "1.5 GiB".
func Size(n int64) string {
	const k = 1024
	switch {
	case n < k:
		return strconv.FormatInt(n, 10) + " B"
	case n < k*k:
		return strconv.FormatFloat(float64(n)/k, 'f', 1, 64) + " KiB"
	case n < k*k*k:
		return strconv.FormatFloat(float64(n)/(k*k), 'f', 1, 64) + " MiB"
	}
	return strconv.FormatFloat(float64(n)/(k*k*k), 'f', 1, 64) + " GiB"
}
