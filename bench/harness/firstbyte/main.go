// Command firstbyte measures how long the first byte of a streamed response
// body takes to arrive: it requests a URL n times, one after another on one
// kept-alive connection, and prints a JSON line with the median, the 99th
// percentile, the least and the most, in microseconds, from sending the
// request to reading the first body byte. The first request warms the
// connection and is not counted.
//
//	firstbyte -n 50 'http://127.0.0.1:3999/stream?chunks=2&interval=20ms'
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"time"
)

func main() {
	n := flag.Int("n", 50, "requests to time (after one to warm up)")
	timeout := flag.Duration("timeout", 30*time.Second, "give up after this long in all")
	flag.Parse()
	if flag.NArg() != 1 || *n < 1 {
		fmt.Fprintln(os.Stderr, "usage: firstbyte [-n 50] [-timeout 30s] URL")
		os.Exit(2)
	}
	client := &http.Client{Transport: &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 1}}
	deadline := time.Now().Add(*timeout)
	var samples []time.Duration
	for i := 0; i <= *n; i++ {
		if time.Now().After(deadline) {
			fail(fmt.Errorf("%d of %d requests done in %v", len(samples), *n, *timeout))
		}
		d, err := firstByte(client, flag.Arg(0), deadline)
		if err != nil {
			fail(err)
		}
		if i > 0 {
			samples = append(samples, d)
		}
	}
	slices.Sort(samples)
	us := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }
	out, _ := json.Marshal(map[string]any{
		"n":      len(samples),
		"p50_us": us(samples[len(samples)/2]),
		"p99_us": us(samples[min(len(samples)-1, len(samples)*99/100)]),
		"min_us": us(samples[0]),
		"max_us": us(samples[len(samples)-1]),
	})
	fmt.Println(string(out))
}

// firstByte requests url and returns the time until the first body byte,
// then reads the rest so the connection can be reused.
func firstByte(client *http.Client, url string, deadline time.Time) (time.Duration, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	client.Timeout = time.Until(deadline)
	start := time.Now()
	res, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("%s: status %s", url, res.Status)
	}
	var one [1]byte
	if _, err := io.ReadFull(res.Body, one[:]); err != nil {
		return 0, fmt.Errorf("%s: no body: %w", url, err)
	}
	d := time.Since(start)
	if _, err := io.Copy(io.Discard, res.Body); err != nil && !errors.Is(err, io.EOF) {
		return 0, err
	}
	return d, nil
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "firstbyte:", err)
	os.Exit(1)
}
