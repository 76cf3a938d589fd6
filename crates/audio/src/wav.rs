//! WAV files in and out (via `hound`), converted to what G.711 carries: 8 kHz, mono, 16-bit.
//!
//! Reading accepts PCM integer WAV of 8, 16, 24 or 32 bits and 32-bit float WAV, any channel count (mixed down
//! to mono by averaging) and any sample rate from 4 kHz to 192 kHz. Rates other than 8 kHz are converted by a
//! moving-average low-pass (window = the rate ratio, when decimating) followed by linear interpolation: good
//! enough for speech and tones in tests, not a studio resampler (some aliasing above ~3 kHz stays). Other WAV
//! formats (A-law/µ-law WAV, ADPCM, 64-bit float) are refused with a typed error. Writing always produces
//! 8 kHz mono 16-bit PCM.
//!
//! No files are opened here: [`read`] takes any `Read`, [`write`] and [`WavRecorder`] any `Write + Seek` (the
//! header's sizes are fixed up at the end); the CLI opens the files.

use std::io::{Read, Seek, Write};

use crate::RATE;

/// Why a WAV file could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WavError {
    /// The data could not be read or written, or is not a WAV file `hound` understands.
    #[error("{0}")]
    Io(#[from] hound::Error),
    /// A sample format we do not convert.
    #[error("unsupported WAV format: {bits}-bit {kind}")]
    Format {
        /// Bits per sample.
        bits: u16,
        /// "int" or "float".
        kind: &'static str,
    },
    /// A sample rate outside 4 kHz..=192 kHz.
    #[error("unsupported sample rate {0} Hz (4000..=192000)")]
    Rate(u32),
    /// No channels.
    #[error("WAV file has no channels")]
    NoChannels,
}

impl From<std::io::Error> for WavError {
    fn from(e: std::io::Error) -> Self {
        Self::Io(hound::Error::IoError(e))
    }
}

/// Reads a WAV file's bytes as 8 kHz mono 16-bit samples.
pub fn read(reader: impl Read) -> Result<Vec<i16>, WavError> {
    let reader = hound::WavReader::new(reader)?;
    let spec = reader.spec();
    if !(4000..=192_000).contains(&spec.sample_rate) {
        return Err(WavError::Rate(spec.sample_rate));
    }
    if spec.channels == 0 {
        return Err(WavError::NoChannels);
    }
    let interleaved: Vec<f64> = match (spec.sample_format, spec.bits_per_sample) {
        (hound::SampleFormat::Int, bits @ (8 | 16 | 24 | 32)) => {
            let scale = f64::from(1u32 << (bits - 1));
            reader
                .into_samples::<i32>()
                .map(|s| s.map(|s| f64::from(s) / scale))
                .collect::<Result<_, _>>()?
        }
        (hound::SampleFormat::Float, 32) => reader
            .into_samples::<f32>()
            .map(|s| s.map(f64::from))
            .collect::<Result<_, _>>()?,
        (format, bits) => {
            return Err(WavError::Format {
                bits,
                kind: if format == hound::SampleFormat::Int {
                    "int"
                } else {
                    "float"
                },
            })
        }
    };
    let mono = mix_down(&interleaved, usize::from(spec.channels));
    let resampled = resample(&mono, spec.sample_rate, RATE);
    Ok(resampled.iter().map(|&x| to_i16(x)).collect())
}

/// Writes 8 kHz mono 16-bit samples as a WAV file.
pub fn write(writer: impl Write + Seek, samples: &[i16]) -> Result<(), WavError> {
    let mut w = WavRecorder::new(writer)?;
    w.append(samples)?;
    w.finish()
}

/// A WAV file being recorded (8 kHz mono 16-bit): samples are appended as frames arrive; `finish` fixes up the
/// header. Dropped without `finish`, the header's sizes may be left unset.
pub struct WavRecorder<W: Write + Seek> {
    writer: hound::WavWriter<W>,
}

impl<W: Write + Seek> std::fmt::Debug for WavRecorder<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WavRecorder")
            .field("samples", &self.writer.len())
            .finish()
    }
}

impl<W: Write + Seek> WavRecorder<W> {
    /// Starts a recording into `writer` (writes the header).
    pub fn new(writer: W) -> Result<Self, WavError> {
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: RATE,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        Ok(Self {
            writer: hound::WavWriter::new(writer, spec)?,
        })
    }

    /// Appends samples.
    pub fn append(&mut self, samples: &[i16]) -> Result<(), WavError> {
        for &s in samples {
            self.writer.write_sample(s)?;
        }
        Ok(())
    }

    /// Writes the final header.
    pub fn finish(self) -> Result<(), WavError> {
        Ok(self.writer.finalize()?)
    }
}

fn to_i16(x: f64) -> i16 {
    (x * 32768.0).round().clamp(-32768.0, 32767.0) as i16
}

fn mix_down(interleaved: &[f64], channels: usize) -> Vec<f64> {
    interleaved
        .chunks_exact(channels)
        .map(|frame| frame.iter().sum::<f64>() / channels as f64)
        .collect()
}

/// Converts `input` at `from` Hz to `to` Hz: moving-average low-pass when decimating, then linear interpolation.
fn resample(input: &[f64], from: u32, to: u32) -> Vec<f64> {
    if from == to || input.is_empty() {
        return input.to_vec();
    }
    let ratio = f64::from(from) / f64::from(to);
    let filtered: Vec<f64> = if ratio > 1.0 {
        let window = ratio.round().max(1.0) as usize;
        let mut out = Vec::with_capacity(input.len());
        let mut sum = 0.0;
        for (i, &x) in input.iter().enumerate() {
            sum += x;
            if i >= window {
                sum -= input[i - window];
            }
            out.push(sum / (i + 1).min(window) as f64);
        }
        // Centre the window (a moving average delays by (window − 1) / 2 samples).
        let shift = (window - 1) / 2;
        out.drain(..shift.min(out.len()));
        out
    } else {
        input.to_vec()
    };
    let n_out = ((filtered.len() as f64) / ratio).floor() as usize;
    (0..n_out)
        .map(|i| {
            let pos = i as f64 * ratio;
            let k = pos.floor() as usize;
            let frac = pos - k as f64;
            let a = filtered.get(k).copied().unwrap_or(0.0);
            let b = filtered.get(k + 1).copied().unwrap_or(a);
            a + (b - a) * frac
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;
    use crate::goertzel::goertzel_share;
    use crate::tone::ToneGenerator;

    /// A WAV file in memory with `spec`, its samples from `fill`.
    fn wav_bytes(
        spec: hound::WavSpec,
        fill: impl FnOnce(&mut hound::WavWriter<&mut Cursor<Vec<u8>>>),
    ) -> Vec<u8> {
        let mut buf = Cursor::new(Vec::new());
        let mut w = hound::WavWriter::new(&mut buf, spec).unwrap();
        fill(&mut w);
        w.finalize().unwrap();
        buf.into_inner()
    }

    fn spec(
        channels: u16,
        sample_rate: u32,
        bits: u16,
        format: hound::SampleFormat,
    ) -> hound::WavSpec {
        hound::WavSpec {
            channels,
            sample_rate,
            bits_per_sample: bits,
            sample_format: format,
        }
    }

    #[test]
    fn write_then_read_is_exact_at_8k_mono() {
        let samples = ToneGenerator::new(440.0, 0.5).samples(8000);
        let mut buf = Cursor::new(Vec::new());
        write(&mut buf, &samples).unwrap();
        let bytes = buf.into_inner();
        assert_eq!(read(&bytes[..]).unwrap(), samples);
        let spec = hound::WavReader::new(&bytes[..]).unwrap().spec();
        assert_eq!(
            (spec.channels, spec.sample_rate, spec.bits_per_sample),
            (1, 8000, 16)
        );
    }

    /// The recorder appends frame by frame; the header's sizes are right after `finish`.
    #[test]
    fn recorder_appends_frames() {
        let mut buf = Cursor::new(Vec::new());
        let mut rec = WavRecorder::new(&mut buf).unwrap();
        let samples = ToneGenerator::new(300.0, 0.2).samples(480);
        for frame in samples.chunks(160) {
            rec.append(frame).unwrap();
        }
        assert!(format!("{rec:?}").contains("480"));
        rec.finish().unwrap();
        assert_eq!(read(&buf.into_inner()[..]).unwrap(), samples);
    }

    /// A 44.1 kHz stereo 16-bit file of a 440 Hz tone becomes 8 kHz mono with the tone intact.
    #[test]
    fn converts_rate_and_channels() {
        let bytes = wav_bytes(spec(2, 44_100, 16, hound::SampleFormat::Int), |w| {
            for i in 0..44_100 {
                let s =
                    (10_000.0 * (std::f64::consts::TAU * 440.0 * i as f64 / 44_100.0).sin()) as i16;
                w.write_sample(s).unwrap();
                w.write_sample(s).unwrap();
            }
        });
        let got = read(&bytes[..]).unwrap();
        assert!((7990..=8000).contains(&got.len()), "{}", got.len());
        assert!(goertzel_share(&got[..8000.min(got.len())], 440.0) > 0.9);
        let peak = got.iter().map(|x| x.abs()).max().unwrap();
        assert!((9000..=10_100).contains(&peak), "amplitude kept: {peak}");
    }

    #[test]
    fn float_and_8_bit_and_upsampling() {
        let bytes = wav_bytes(spec(1, 4000, 32, hound::SampleFormat::Float), |w| {
            for i in 0..4000 {
                w.write_sample(
                    (0.5 * (std::f64::consts::TAU * 300.0 * i as f64 / 4000.0).sin()) as f32,
                )
                .unwrap();
            }
        });
        let got = read(&bytes[..]).unwrap();
        assert_eq!(got.len(), 8000);
        assert!(goertzel_share(&got, 300.0) > 0.9);

        let bytes = wav_bytes(spec(1, 8000, 8, hound::SampleFormat::Int), |w| {
            for v in [-128i8, 0, 127] {
                w.write_sample(v).unwrap();
            }
        });
        assert_eq!(read(&bytes[..]).unwrap(), vec![-32768, 0, 32512]);
    }

    #[test]
    fn refuses_what_it_cannot_convert() {
        let slow = wav_bytes(spec(1, 2000, 16, hound::SampleFormat::Int), |_| {});
        assert!(matches!(read(&slow[..]), Err(WavError::Rate(2000))));
        assert!(matches!(read(&b"not a wav"[..]), Err(WavError::Io(_))));
        assert!(matches!(read(&[][..]), Err(WavError::Io(_))));
        let io: WavError = std::io::Error::from(std::io::ErrorKind::NotFound).into();
        assert!(matches!(io, WavError::Io(hound::Error::IoError(_))));
        // Truncated data: an error, not a panic.
        let good = wav_bytes(spec(1, 8000, 16, hound::SampleFormat::Int), |w| {
            for v in 0..100i16 {
                w.write_sample(v).unwrap();
            }
        });
        for cut in [0, 10, 44, 45, 100] {
            let _ = read(&good[..cut]);
        }
    }
}
