/*
 * fuzz_proxy.c: libFuzzer harness for the PROXY protocol parser (src/proxy.c).
 *
 * Feeds each input to proxy_parse() in every mode and checks the parser's
 * promises: a complete header never claims more bytes than it was given,
 * stays within the documented bounds, parses the same when cut to its own
 * length, and every strict prefix of it asks for more bytes.
 * Build and run: make fuzz-proxy [FUZZ_TIME=seconds].
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "proxy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile size_t sink; /* keeps the results observable to the optimizer */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	for (int m = PROXY_OFF; m <= PROXY_OPTIONAL; m++) {
		struct proxy_info info;
		size_t hl = 0;
		const char *why = NULL;
		enum proxy_status st =
		    proxy_parse(data, size, (enum proxy_mode)m, &info, &hl, &why);
		if (!why)
			abort();
		sink += strlen(why) + strlen(info.alpn) + strlen(info.authority) +
		        strlen(info.ssl_cn) + strlen(info.ssl_version) + strlen(info.ssl_cipher);
		if (st != PROXY_DONE)
			continue;
		if (hl == 0 || hl > size || hl > PROXY_MAX_HEADER)
			abort();
		if (info.version == 1 && hl > PROXY_V1_MAX)
			abort();
		struct proxy_info again;
		size_t hl2 = 0;
		if (proxy_parse(data, hl, (enum proxy_mode)m, &again, &hl2, &why) != PROXY_DONE ||
		    hl2 != hl)
			abort();
		for (size_t n = 1; n < hl; n += 1 + n / 8)
			if (proxy_parse(data, n, (enum proxy_mode)m, &again, &hl2, &why) !=
			    PROXY_MORE)
				abort();
	}
	return 0;
}
