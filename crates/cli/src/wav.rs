//! WAV files on disk: the file half of `dtlsrtp_audio::wav`, which reads and writes any `Read`/`Write` and
//! converts to and from 8 kHz mono 16-bit. The command opens, creates and truncates the files here.

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

pub(crate) use dtlsrtp_audio::wav::WavError;

/// Reads a WAV file as 8 kHz mono 16-bit samples.
pub(crate) fn read(path: &Path) -> Result<Vec<i16>, WavError> {
    dtlsrtp_audio::wav::read(std::io::BufReader::new(File::open(path)?))
}

/// Writes 8 kHz mono 16-bit samples to a new (or truncated) file.
pub(crate) fn write(path: &Path, samples: &[i16]) -> Result<(), WavError> {
    dtlsrtp_audio::wav::write(BufWriter::new(File::create(path)?), samples)
}

/// A WAV file being recorded: samples are appended as frames arrive; `finish` fixes up the header.
#[derive(Debug)]
pub(crate) struct WavRecorder(dtlsrtp_audio::wav::WavRecorder<BufWriter<File>>);

impl WavRecorder {
    /// Creates (truncates) the file.
    pub(crate) fn create(path: &Path) -> Result<Self, WavError> {
        Ok(Self(dtlsrtp_audio::wav::WavRecorder::new(BufWriter::new(
            File::create(path)?,
        ))?))
    }

    /// Appends samples.
    pub(crate) fn append(&mut self, samples: &[i16]) -> Result<(), WavError> {
        self.0.append(samples)
    }

    /// Writes the final header.
    pub(crate) fn finish(self) -> Result<(), WavError> {
        self.0.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_round_trip_and_open_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.wav");
        let samples: Vec<i16> = (0..800).map(|i| (i * 37 % 2000) as i16 - 1000).collect();
        let mut rec = WavRecorder::create(&path).unwrap();
        rec.append(&samples[..400]).unwrap();
        rec.append(&samples[400..]).unwrap();
        rec.finish().unwrap();
        assert_eq!(read(&path).unwrap(), samples);
        write(&path, &samples[..10]).unwrap();
        assert_eq!(read(&path).unwrap(), &samples[..10]);
        assert!(matches!(
            read(&dir.path().join("missing.wav")),
            Err(WavError::Io(_))
        ));
        assert!(matches!(
            WavRecorder::create(&dir.path().join("no/such/dir.wav")),
            Err(WavError::Io(_))
        ));
    }
}
