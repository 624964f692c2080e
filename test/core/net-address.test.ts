import { describe, expect, it } from 'vitest';
import { classifyAddress, isPublicAddress } from '../../src/core/net/address.ts';
import { isTrustedHost, normaliseHost } from '../../src/core/net/host-guard.ts';

describe('classifyAddress: IPv4', () => {
  it.each([
    ['0.0.0.0', 'unspecified'],
    ['0.1.2.3', 'unspecified'],
    ['10.0.0.1', 'private'],
    ['10.255.255.255', 'private'],
    ['100.64.0.1', 'cgnat'],
    ['100.127.255.254', 'cgnat'],
    ['127.0.0.1', 'loopback'],
    ['127.255.0.9', 'loopback'],
    ['169.254.169.254', 'link_local'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.0.0.8', 'reserved'],
    ['192.0.2.1', 'reserved'],
    ['192.88.99.1', 'reserved'],
    ['192.168.1.1', 'private'],
    ['198.18.0.1', 'reserved'],
    ['198.19.255.255', 'reserved'],
    ['198.51.100.7', 'reserved'],
    ['203.0.113.9', 'reserved'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['240.0.0.1', 'reserved'],
    ['255.255.255.255', 'broadcast'],
  ])('%s is %s', (ip, kind) => {
    expect(classifyAddress(ip)).toBe(kind);
    expect(isPublicAddress(ip)).toBe(false);
  });

  it.each(['1.1.1.1', '8.8.8.8', '93.184.216.34', '100.63.255.255', '100.128.0.0', '172.15.255.255', '172.32.0.0', '169.253.1.1', '223.255.255.255'])(
    '%s is public',
    (ip) => {
      expect(classifyAddress(ip)).toBe('public');
      expect(isPublicAddress(ip)).toBe(true);
    },
  );

  it.each(['2130706433', '0177.0.0.1', '0x7f.0.0.1', '127.1', '127.000.0.1', '017.0.0.1', '1.2.3.256', '', 'localhost', ' 8.8.8.8'])(
    'odd or malformed form %j is invalid, never public',
    (ip) => {
      expect(classifyAddress(ip)).toBe('invalid');
      expect(isPublicAddress(ip)).toBe(false);
    },
  );
});

describe('classifyAddress: IPv6', () => {
  it.each([
    ['::', 'unspecified'],
    ['::1', 'loopback'],
    ['0:0:0:0:0:0:0:1', 'loopback'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['::ffff:10.0.0.1', 'private'],
    ['::ffff:a9fe:a9fe', 'link_local'],
    ['::ffff:0:7f00:1', 'loopback'], // IPv4-translated
    ['::127.0.0.1', 'loopback'], // IPv4-compatible
    ['::8.8.8.8', 'reserved'], // IPv4-compatible of a public address: deprecated, not routed
    ['64:ff9b::127.0.0.1', 'loopback'], // NAT64 of loopback
    ['64:ff9b::a00:1', 'private'],
    ['64:ff9b:1::1', 'private'],
    ['2002:7f00:1::1', 'loopback'], // 6to4 of 127.0.0.1
    ['2002:c0a8:101::1', 'private'],
    ['fc00::1', 'private'],
    ['fd12:3456:789a::1', 'private'],
    ['fe80::1', 'link_local'],
    ['fe80::1%eth0', 'link_local'],
    ['febf::1', 'link_local'],
    ['fec0::1', 'private'],
    ['ff02::1', 'multicast'],
    ['2001:db8::1', 'reserved'],
    ['2001::1', 'reserved'], // Teredo
    ['3fff::1', 'reserved'],
    ['100::1', 'reserved'], // discard prefix
    ['4000::1', 'reserved'], // outside 2000::/3
  ])('%s is %s', (ip, kind) => {
    expect(classifyAddress(ip)).toBe(kind);
  });

  it.each(['2606:4700:4700::1111', '2001:4860:4860::8888', '::ffff:8.8.8.8', '64:ff9b::808:808', '2002:808:808::1'])('%s is public', (ip) => {
    expect(isPublicAddress(ip)).toBe(true);
  });

  it.each(['[::1]', ':::1', '1::2::3', 'gggg::1', '::ffff:0177.0.0.1', '1:2:3:4:5:6:7:8:9'])('malformed %j is invalid', (ip) => {
    expect(classifyAddress(ip)).toBe('invalid');
  });
});

describe('trusted hosts', () => {
  it('normalises case, IDNA, brackets and a trailing dot', () => {
    expect(normaliseHost('API.Example.COM.')).toBe('api.example.com');
    expect(normaliseHost('bücher.example')).toBe('xn--bcher-kva.example');
    expect(normaliseHost('[::FFFF:127.0.0.1]')).toBe('::ffff:7f00:1');
  });

  it('matches exact entries and `.suffix` entries for subdomains only', () => {
    const trusted = ['graph.facebook.com', '.fbcdn.net', 'API.Telegram.org', 'bücher.example', '::1'];
    expect(isTrustedHost('graph.facebook.com', trusted)).toBe(true);
    expect(isTrustedHost('GRAPH.facebook.com.', trusted)).toBe(true);
    expect(isTrustedHost('api.telegram.org', trusted)).toBe(true);
    expect(isTrustedHost('lookaside.fbcdn.net', trusted)).toBe(true);
    expect(isTrustedHost('a.b.fbcdn.net', trusted)).toBe(true);
    expect(isTrustedHost('xn--bcher-kva.example', trusted)).toBe(true);
    expect(isTrustedHost('0:0:0:0:0:0:0:1', trusted)).toBe(true);
    expect(isTrustedHost('fbcdn.net', trusted)).toBe(false); // `.suffix` is subdomains only
    expect(isTrustedHost('evilfbcdn.net', trusted)).toBe(false);
    expect(isTrustedHost('graph.facebook.com.evil.test', trusted)).toBe(false);
    expect(isTrustedHost('facebook.com', trusted)).toBe(false);
    expect(isTrustedHost('anything', [])).toBe(false);
  });
});
