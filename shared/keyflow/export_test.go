package keyflow

// ParseHTTPDate is parseHTTPDate, for the tests.
var ParseHTTPDate = parseHTTPDate
