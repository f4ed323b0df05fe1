package keyflow

// ParseHTTPDate is parseHTTPDate, for the tests.
var ParseHTTPDate = parseHTTPDate

// Until is until, for the tests.
var Until = until
