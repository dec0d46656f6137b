import { describe, expect, it } from 'vitest';
import { chooseH264Form } from '../../public/src/render/h264-form.js';

const SAFARI_IOS = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1';
const WEBKITGTK = 'Mozilla/5.0 (X11; Ubuntu; Linux x86_64) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 Safari/605.1.15';
const CHROMIUM = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36';
const FIREFOX = 'Mozilla/5.0 (X11; Linux x86_64; rv:153.0) Gecko/20100101 Firefox/153.0';

describe('H.264 form for ws-nal', () => {
  it('configures every WebKit with avc1 + avcC, and passes Annex B through elsewhere', () => {
    for (const ua of [SAFARI_IOS, WEBKITGTK]) expect(chooseH264Form(null, ua).form, ua).toBe('avcc');
    for (const ua of [CHROMIUM, FIREFOX]) expect(chooseH264Form(null, ua).form, ua).toBe('annexb');
  });

  it('honours ?h264= in any engine, and ignores values it does not know', () => {
    expect(chooseH264Form('annexb', SAFARI_IOS)).toEqual({ form: 'annexb', reason: 'forced by ?h264=annexb' });
    expect(chooseH264Form('avcc', CHROMIUM).form).toBe('avcc');
    expect(chooseH264Form('avc3', CHROMIUM).form).toBe('annexb');
    expect(chooseH264Form('', SAFARI_IOS).form).toBe('avcc');
  });
});
