//go:build !linux

package httpapi

import "io/fs"

// sysID is empty outside Linux: a file's identity is its size and
// modification time.
type sysID struct{}

func sysIdentity(fs.FileInfo) sysID { return sysID{} }
