//go:build !unix

package httpapi_test

import "time"

func cpuTime() time.Duration { return 0 }
